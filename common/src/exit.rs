//! Exit statuses shared by every tool (coreutils env/chroot convention), so that a
//! chain of tools never mixes its own failures with the command's statuses.

/// The tool itself failed: bad usage, or a namespace, mount or cgroup step.
pub const TOOL_FAILED: i32 = 125;
/// The command was found but could not be executed.
pub const CANNOT_EXECUTE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;
