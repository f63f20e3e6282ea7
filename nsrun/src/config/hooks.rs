//! config.md "POSIX-platform Hooks".

use serde_json::{Map, Value};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hook {
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

pub(super) fn hooks(h: &Map<String, Value>) -> Read<Hooks> {
    let list = |key: &str| -> Read<Vec<Hook>> {
        array(h, "hooks", key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let f = format!("hooks.{key}[{i}]");
                let o = object(v, &f)?;
                let path = string(o, &f, "path")?.unwrap_or_default();
                absolute(&format!("{f}.path"), &path)?;
                let timeout = integer(o, &f, "timeout", 1, i64::from(u32::MAX))?.map(|t| t as u32);
                Ok(Hook { path, args: strings(o, &f, "args")?, env: strings(o, &f, "env")?, timeout })
            })
            .collect()
    };
    Ok(Hooks {
        prestart: list("prestart")?,
        create_runtime: list("createRuntime")?,
        create_container: list("createContainer")?,
        start_container: list("startContainer")?,
        poststart: list("poststart")?,
        poststop: list("poststop")?,
    })
}
