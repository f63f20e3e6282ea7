//! A container's state: its file (state.json), its status, the documents
//! engines and hooks read.

use std::path::Path;

use common::Error;
use common::error::quoted;
use serde_json::{Map, Value, json};

use crate::cgroups;

use super::*;

/// Where a container is in its lifecycle (runtime.md), as `state` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Made, its process held on the FIFO until start.
    Created,
    Running,
    /// Frozen in its cgroup (pause).
    Paused,
    /// Its process gone (or its PID now another's).
    Stopped,
}

impl Status {
    /// The spec's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `create` records of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    pub pid: libc::pid_t,
    /// Its start time in clock ticks (/proc/PID/stat), so that a reused PID is not taken for it.
    pub start_time: u64,
    pub bundle: String,
    pub created: String,
    pub annotations: serde_json::Map<String, serde_json::Value>,
    pub cgroups: Vec<cgroups::Placed>,
}

impl State {
    pub fn read(dir: &Path, id: &str) -> Result<Self, Error> {
        let path = dir.join(STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new("", quoted(id), DOES_NOT_EXIST),
            _ => Error::new("cannot read", path.display(), common::io_reason(&e)),
        })?;
        let bad = || Error::new("cannot read", path.display(), "not a state file of nsrun");
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let placed = cgroups::from_json(&v["nsrunCgroups"]);
        let cgroups_path = kept_config(dir).and_then(|c| c.linux.cgroups_path);
        cgroups::check_placed(&placed, cgroups_path.as_deref(), id)?;
        Ok(Self {
            id: v["id"].as_str().ok_or_else(bad)?.to_owned(),
            pid: v["pid"].as_i64().and_then(|p| i32::try_from(p).ok()).ok_or_else(bad)?,
            start_time: v["nsrunStartTime"].as_u64().ok_or_else(bad)?,
            bundle: v["bundle"].as_str().unwrap_or_default().to_owned(),
            created: v["created"].as_str().unwrap_or_default().to_owned(),
            annotations: v["annotations"].as_object().cloned().unwrap_or_default(),
            cgroups: placed,
        })
    }

    pub(super) fn write(&self, dir: &Path) -> Result<(), Error> {
        let v = json!({
            "id": self.id, "pid": self.pid, "nsrunStartTime": self.start_time,
            "bundle": self.bundle, "created": self.created, "annotations": self.annotations,
            "nsrunCgroups": cgroups::to_json(&self.cgroups),
        });
        common::ReplacedFile::at(&dir.join(STATE))?.write(v.to_string().as_bytes())
    }

    /// Stopped if its PID is gone (or another's), created while the FIFO holds it,
    /// paused while its cgroup is frozen, else running.
    pub fn status(&self, dir: &Path) -> Status {
        if start_time(self.pid) != Some(self.start_time) {
            Status::Stopped
        } else if dir.join(FIFO).exists() {
            Status::Created
        } else if cgroups::frozen(&self.cgroups) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The state a hook reads on stdin, with `status` as the hook's moment has it.
    pub fn hook_state(&self, status: Status) -> String {
        json!({
            "ociVersion": "1.0.2", "id": self.id, "status": status.as_str(), "pid": self.pid, "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string()
    }

    /// The OCI state document.
    pub fn document(&self, dir: &Path) -> serde_json::Value {
        let status = self.status(dir);
        let mut v = json!({
            "ociVersion": "1.0.2", "id": self.id, "status": status.as_str(), "bundle": self.bundle,
            "created": self.created, "annotations": self.annotations,
        });
        if status != Status::Stopped {
            v["pid"] = json!(self.pid);
        }
        v
    }
}

/// What `update` applied (a LinuxResources object), kept in the container's
/// config: its updatable sections merged in key by key, a section's other
/// keys as they were.
pub fn keep_resources(dir: &Path, asked: &serde_json::Value) -> Result<(), Error> {
    let path = dir.join(CONFIG);
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", path.display(), common::io_reason(&e)))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| Error::new("cannot read", path.display(), "not JSON"))?;
    let Some(linux) = config.as_object_mut().map(|c| c.entry("linux").or_insert_with(|| json!({}))) else {
        return Err(Error::new("cannot read", path.display(), "not a config"));
    };
    let Some(resources) = linux.as_object_mut().map(|l| l.entry("resources").or_insert_with(|| json!({}))) else {
        return Err(Error::new("cannot read", path.display(), "linux is not an object"));
    };
    if let Some(resources) = resources.as_object_mut() {
        merged(resources, asked);
    }
    common::ReplacedFile::at(&path)?.write(config.to_string().as_bytes())
}

/// The sections of `update` `asked` merged into `resources` key by key (a
/// section's other keys stay as they were).
fn merged(resources: &mut Map<String, Value>, asked: &Value) {
    let Some(asked) = asked.as_object() else { return };
    for (section, values) in asked.iter().filter(|(k, _)| crate::config::UPDATABLE.contains(&k.as_str())) {
        let entry = resources.entry(section.clone()).or_insert_with(|| json!({}));
        match (entry.as_object_mut(), values.as_object()) {
            // 0 leaves a value as it was (runc's "unset"), in the file and here.
            (Some(into), Some(from)) => {
                into.extend(from.iter().filter(|(_, v)| v.as_i64() != Some(0)).map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => *entry = values.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_only_the_keys_it_names() {
        let mut resources = json!({"memory": {"limit": 1, "swap": 2}, "devices": [{"allow": false}]});
        let map = resources.as_object_mut().unwrap();
        merged(map, &json!({"memory": {"limit": 5, "swap": 0}, "pids": {"limit": 3}, "devices": []}));
        assert_eq!(
            resources,
            json!({"memory": {"limit": 5, "swap": 2}, "pids": {"limit": 3}, "devices": [{"allow": false}]})
        );
    }
}
