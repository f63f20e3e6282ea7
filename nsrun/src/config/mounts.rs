//! config.md "Root" and "Mounts".

use serde_json::Value;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub destination: String,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
}

pub(super) fn mount(v: &Value, field: &str) -> Read<Mount> {
    let m = object(v, field)?;
    let destination = string(m, field, "destination")?.unwrap_or_default();
    if destination.is_empty() {
        return invalid(&format!("{field}.destination"), "missing or empty");
    }
    absolute(&format!("{field}.destination"), &destination)?;
    Ok(Mount {
        destination,
        kind: string(m, field, "type")?,
        source: string(m, field, "source")?,
        options: strings(m, field, "options")?,
    })
}
