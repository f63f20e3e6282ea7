//! config.md "Root" and "Mounts".

use serde_json::Value;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub destination: String,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
    /// What the options ask of the kernel, planned once, at parse.
    pub plan: crate::mounts::Plan,
}

pub(super) fn mount(v: &Value, field: &str) -> Read<Mount> {
    let m = object(v, field)?;
    let destination = string(m, field, "destination")?.unwrap_or_default();
    if destination.is_empty() {
        return invalid(&format!("{field}.destination"), "missing or empty");
    }
    absolute(&format!("{field}.destination"), &destination)?;
    let options = strings(m, field, "options")?;
    let kind = string(m, field, "type")?;
    let plan = crate::mounts::plan(&options);
    if plan.copy_up && kind.as_deref() != Some("tmpfs") {
        return invalid(&format!("{field}.options"), "tmpcopyup is for tmpfs mounts");
    }
    Ok(Mount { destination, kind, source: string(m, field, "source")?, options, plan })
}
