//! cri-client SOCKET HANDLER IMAGE WORKDIR [pod]
//!
//! What a kubelet does with a pod, over containerd's CRI socket, with the
//! runtime handler HANDLER (a RuntimeClass): run a pod sandbox, create and
//! start containers, read their status, exec in them, read their logs,
//! stats and limits, see them exit (7, OOM), see a missing executable
//! reported, stop and remove them, stop a pod with a container still
//! running, remove the pods, and count what is left. One `name=value` line
//! per finding, for tests/engines.rs; every call has a deadline, so a
//! runtime that wedges the engine shows as `name=timeout`. With `pod`: one
//! pod from start to removal, a container that runs `true` in it, quietly
//! (what bench/run times).

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};

/// POD and CONTAINER of the CRI's NamespaceMode.
const POD: i32 = 0;
const CONTAINER: i32 = 1;
/// CONTAINER_RUNNING and CONTAINER_EXITED of the CRI's ContainerState.
const RUNNING: i32 = 1;
const EXITED: i32 = 2;

fn say(name: &str, value: impl std::fmt::Display) {
    println!("{name}={value}");
}

struct Kubelet {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    handler: String,
    image: String,
    logs: String,
}

/// A call with a deadline: the engine's answer, or its error as text.
async fn call<T>(what: &str, f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status.message().to_owned()),
        Err(_) => {
            say(what, "timeout");
            std::process::exit(1)
        }
    }
}

fn namespaces() -> Option<NamespaceOption> {
    Some(NamespaceOption { network: POD, pid: CONTAINER, ipc: POD, ..Default::default() })
}

/// A pod's cgroup parent as the kubelet names it: a cgroupfs path, or with
/// its systemd driver (CRI_CGROUP_DRIVER=systemd) a slice, dashes nesting it.
fn cgroup_parent(handler: &str, pod: &str) -> String {
    if std::env::var("CRI_CGROUP_DRIVER").is_ok_and(|d| d == "systemd") {
        let plain = |s: &str| s.replace(['-', '_'], "");
        format!("kubepods-pod{}{}.slice", plain(handler), plain(pod))
    } else {
        format!("/kubepods/pod-{handler}-{pod}")
    }
}

impl Kubelet {
    fn pod(&self, name: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.to_owned(),
                uid: format!("{}-{name}", self.handler),
                namespace: "default".to_owned(),
                attempt: 0,
            }),
            hostname: name.to_owned(),
            log_directory: format!("{}/{name}", self.logs),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent(&self.handler, name),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: namespaces(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, name: &str) -> Result<(String, PodSandboxConfig), String> {
        let config = self.pod(name);
        let request = RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: self.handler.clone() };
        let id = call("run_pod", self.runtime.run_pod_sandbox(request)).await?.pod_sandbox_id;
        Ok((id, config))
    }

    fn container(&self, name: &str, command: &[&str], resources: LinuxContainerResources) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata { name: name.to_owned(), attempt: 0 }),
            image: Some(ImageSpec { image: self.image.clone(), ..Default::default() }),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                resources: Some(resources),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: namespaces(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    /// CreateContainer then StartContainer, as the kubelet does: the id, or the error.
    async fn start(&mut self, pod: &(String, PodSandboxConfig), config: ContainerConfig) -> Result<String, String> {
        let request = CreateContainerRequest {
            pod_sandbox_id: pod.0.clone(),
            config: Some(config),
            sandbox_config: Some(pod.1.clone()),
        };
        let id = call("create", self.runtime.create_container(request)).await?.container_id;
        let started =
            call("start", self.runtime.start_container(StartContainerRequest { container_id: id.clone() })).await;
        started.map(|_| id.clone()).map_err(|e| format!("{id}\n{e}"))
    }

    async fn status(&mut self, id: &str) -> Result<(ContainerStatus, String), String> {
        let request = ContainerStatusRequest { container_id: id.to_owned(), verbose: true };
        let response = call("status", self.runtime.container_status(request)).await?;
        let info = response.info.get("info").cloned().unwrap_or_default();
        Ok((response.status.unwrap_or_default(), info))
    }

    async fn wait_exited(&mut self, id: &str) -> Result<ContainerStatus, String> {
        for _ in 0..2000 {
            let (status, _) = self.status(id).await?;
            if status.state == EXITED {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err("never exited".to_owned())
    }

    async fn remove(&mut self, id: &str) -> Result<(), String> {
        call("remove", self.runtime.remove_container(RemoveContainerRequest { container_id: id.to_owned() }))
            .await
            .map(|_| ())
    }
}

/// The container process's PID, from containerd's verbose status.
fn pid_of(info: &str) -> Option<u32> {
    let rest = &info[info.find("\"pid\":")? + 6..];
    rest.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The CPU quota of `pid`'s cgroup: v1's cfs_quota_us, or the first field of v2's cpu.max.
fn cpu_quota(pid: u32) -> String {
    let value = cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    value.split_whitespace().next().unwrap_or_default().to_owned()
}

/// The value of a cgroup v1 (or v2) file of the cgroup `pid` is in.
fn cgroup_file(pid: u32, controller: &str, v1: &str, v2: &str) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let read = |path: String| std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned());
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if controllers.split(',').any(|c| c == controller)
            && let Some(value) = read(format!("/sys/fs/cgroup/{controller}{path}/{v1}"))
        {
            return value;
        }
        if controllers.is_empty()
            && let Some(value) = read(format!("/sys/fs/cgroup{path}/{v2}"))
        {
            return value;
        }
    }
    "none".to_owned()
}

fn resources(memory: i64, cpu_quota: i64) -> LinuxContainerResources {
    LinuxContainerResources {
        memory_limit_in_bytes: memory,
        memory_swap_limit_in_bytes: memory,
        cpu_period: if cpu_quota > 0 { 100_000 } else { 0 },
        cpu_quota,
        ..Default::default()
    }
}

async fn kubelet(k: &mut Kubelet) -> Result<(), String> {
    let version = call("version", k.runtime.version(VersionRequest::default())).await?;
    say("runtime", version.runtime_name);
    let listed = call("images", k.images.list_images(ListImagesRequest::default())).await?;
    say("image", listed.images.iter().any(|i| i.repo_tags.iter().any(|t| t.ends_with(&k.image))));
    let pod = k.run_pod("p1").await?;
    // A web server and a sidecar talking to it over the pod's localhost.
    let web =
        k.container("web", &["sh", "-c", "echo hi; exec nc -ll -p 7777 -e echo pong"], resources(64 << 20, 50_000));
    let web = k.start(&pod, web).await?;
    let (status, info) = k.status(&web).await?;
    say("running", status.state == RUNNING);
    let exec = ExecSyncRequest {
        container_id: web.clone(),
        cmd: vec!["sh".into(), "-c".into(), "echo in-exec; exit 6".into()],
        timeout: 30,
    };
    let done = call("exec_sync", k.runtime.exec_sync(exec)).await?;
    say("exec", format!("{} {}", String::from_utf8_lossy(&done.stdout).trim(), done.exit_code));
    let pid = pid_of(&info).unwrap_or(0);
    let limits = format!("{} {}", cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max"), cpu_quota(pid));
    say("limits", limits);
    // Kubernetes' in-place resize: containerd sends the runtime `update -r -`.
    let update = UpdateContainerResourcesRequest {
        container_id: web.clone(),
        linux: Some(resources(96 << 20, 25_000)),
        ..Default::default()
    };
    call("update", k.runtime.update_container_resources(update)).await?;
    let updated = format!("{} {}", cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max"), cpu_quota(pid));
    say("updated", updated);
    let stats = call("stats", k.runtime.container_stats(ContainerStatsRequest { container_id: web.clone() })).await?;
    let memory = stats.stats.and_then(|s| s.memory).and_then(|m| m.working_set_bytes).map_or(0, |v| v.value);
    say("stats", memory > 0);
    let exec = ExecRequest { container_id: web.clone(), cmd: vec!["sh".into()], stdout: true, ..Default::default() };
    let exec_url = call("exec", k.runtime.exec(exec)).await?.url;
    let attach = AttachRequest { container_id: web.clone(), stdout: true, ..Default::default() };
    let attach_url = call("attach", k.runtime.attach(attach)).await?.url;
    say("streams", !exec_url.is_empty() && !attach_url.is_empty());
    let sidecar = k.container("sidecar", &["sh", "-c", "sleep 300"], LinuxContainerResources::default());
    let sidecar = k.start(&pod, sidecar).await?;
    let talk = ExecSyncRequest {
        container_id: sidecar.clone(),
        cmd: vec!["sh".into(), "-c".into(), "nc 127.0.0.1 7777 < /dev/null".into()],
        timeout: 30,
    };
    say("localhost", String::from_utf8_lossy(&call("talk", k.runtime.exec_sync(talk)).await?.stdout).trim());
    // One that exits 7 on its own: the engine marks it exited (it kills the stopped
    // task's leftovers first, kill --all), and it can be removed.
    let seven = k.container("seven", &["sh", "-c", "exit 7"], LinuxContainerResources::default());
    let seven = k.start(&pod, seven).await?;
    let exited = k.wait_exited(&seven).await?;
    say("exit", format!("{} {}", exited.exit_code, exited.reason));
    say("removed_exited", k.remove(&seven).await.is_ok());
    // One the kernel kills for memory.
    let hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived";
    let oom = k.container("oom", &["sh", "-c", hog], resources(16 << 20, 0));
    let oom = k.start(&pod, oom).await?;
    let killed = k.wait_exited(&oom).await?;
    say("oom", format!("{} {}", killed.exit_code, killed.reason));
    let _ = k.remove(&oom).await;
    // One whose executable is missing: StartContainer says so.
    let missing = k.container("missing", &["/bin/nosuch"], LinuxContainerResources::default());
    match k.start(&pod, missing).await {
        Ok(id) => {
            say("missing", "started");
            let _ = k.remove(&id).await;
        }
        Err(e) => {
            let words = ["executable file not found", "no such file or directory"];
            say("missing", if words.iter().any(|w| e.contains(w)) { "reported" } else { "other" });
            if let Some(id) = e.lines().next() {
                let _ = k.remove(id).await;
            }
        }
    }
    call("stop", k.runtime.stop_container(StopContainerRequest { container_id: web.clone(), timeout: 2 })).await?;
    say("stopped", k.wait_exited(&web).await.is_ok());
    say("removed", k.remove(&web).await.is_ok());
    let log = std::fs::read_to_string(format!("{}/p1/web.log", k.logs)).unwrap_or_default();
    say("log", log.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap_or(""));
    // A pod stopped with a container still running, then removed.
    let pod2 = k.run_pod("p2").await?;
    let busy = k.container("busy", &["sleep", "300"], LinuxContainerResources::default());
    k.start(&pod2, busy).await?;
    let stopped =
        call("stop_pod", k.runtime.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: pod2.0.clone() })).await;
    let removed =
        call("remove_pod", k.runtime.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: pod2.0 })).await;
    say("pod_with_running", stopped.is_ok() && removed.is_ok());
    call("stop_pod", k.runtime.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: pod.0.clone() })).await?;
    call("remove_pod", k.runtime.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: pod.0 })).await?;
    let containers = call("list", k.runtime.list_containers(ListContainersRequest::default())).await?.containers.len();
    let pods = call("list_pods", k.runtime.list_pod_sandbox(ListPodSandboxRequest::default())).await?.items.len();
    say("left", format!("{containers} {pods}"));
    Ok(())
}

/// One pod, start to removal, with one container that runs `true`.
async fn one_pod(k: &mut Kubelet) -> Result<(), String> {
    let pod = k.run_pod("bench").await?;
    let config = k.container("true", &["true"], LinuxContainerResources::default());
    let id = k.start(&pod, config).await?;
    k.wait_exited(&id).await?;
    k.remove(&id).await?;
    call("stop_pod", k.runtime.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: pod.0.clone() })).await?;
    call("remove_pod", k.runtime.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: pod.0 })).await?;
    Ok(())
}

async fn connect(socket: String) -> Result<Channel, String> {
    Endpoint::try_from("http://localhost")
        .map_err(|e| e.to_string())?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { tokio::net::UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (socket, handler, image, work, pod) = match args.as_slice() {
        [socket, handler, image, work] => (socket, handler, image, work, false),
        [socket, handler, image, work, mode] if mode == "pod" => (socket, handler, image, work, true),
        _ => {
            eprintln!("usage: cri-client SOCKET HANDLER IMAGE WORKDIR [pod]");
            std::process::exit(2)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(async {
        let channel = connect(socket.clone()).await?;
        let mut k = Kubelet {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            handler: handler.clone(),
            image: image.clone(),
            logs: format!("{work}/logs/{handler}"),
        };
        if pod { one_pod(&mut k).await } else { kubelet(&mut k).await }
    });
    if let Err(e) = result {
        say("failed", e.replace('\n', " "));
        std::process::exit(1);
    }
}
