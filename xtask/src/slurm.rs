//! `cargo xtask slurm-test`: a one-node Slurm cluster on localhost (Debian's
//! `slurm-wlm` and `munge`), a 4-task array sweep checked against one
//! unsharded run, and a cancelled array task resubmitted.
//!
//! Every daemon runs in the foreground as a child of this process and is
//! stopped by PID when the check ends, passes or fails.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use miners_eval::ResultRecord;

/// Array size of the sharded runs.
const TASKS: usize = 4;

/// Runs the whole check.
pub fn run(root: &Path) -> Result<()> {
    ensure_packages()?;
    crate::cargo(&["build", "--release", "-p", "miners-cli"])?;
    let work = tempfile::Builder::new().prefix("miners-slurm-").tempdir()?;
    let cluster = Cluster::start(work.path())?;
    let sweep = Sweep {
        root,
        cluster: &cluster,
        work: work.path(),
    };
    let started = Instant::now();
    sweep.array_equals_unsharded("xtask/slurm/spec.toml", "array")?;
    eprintln!(
        "xtask: slurm: a {TASKS}-task array equals one unsharded run ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    sweep.cancelled_task_is_resubmitted("xtask/slurm/spec-cancel.toml", "cancel")?;
    eprintln!(
        "xtask: slurm: a cancelled task, resubmitted, loses and repeats nothing ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Installs Debian's Slurm and MUNGE packages when their daemons are missing.
fn ensure_packages() -> Result<()> {
    let present = ["slurmctld", "slurmd", "sbatch", "munged", "mungekey"]
        .iter()
        .all(|program| on_path(program));
    if present {
        return Ok(());
    }
    eprintln!("xtask: slurm: installing slurm-wlm and munge (apt-get)");
    let install = || {
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "slurm-wlm",
                "munge",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if !install()?.success() {
        let updated = Command::new("apt-get").arg("update").status()?;
        ensure!(
            updated.success() && install()?.success(),
            "apt-get install slurm-wlm munge failed (it needs root)"
        );
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|dir| dir.join(program).is_file())
    })
}

/// `munged`, `slurmctld` and `slurmd` for one node with 2 CPUs, on free ports.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    fn start(dir: &Path) -> Result<Self> {
        let mut cluster = Self {
            dir: dir.to_owned(),
            conf: dir.join("slurm.conf"),
            daemons: Vec::new(),
        };
        for sub in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let munge = dir.join("munge");
        set_mode(&munge, 0o700)?;
        let key = munge.join("munge.key");
        run_ok(
            Command::new("mungekey")
                .arg("--create")
                .arg(format!("--keyfile={}", key.display())),
        )?;
        set_mode(&key, 0o600)?;
        let socket = munge.join("munge.sock");
        cluster.spawn(
            "munged",
            Command::new("munged")
                .args(["--foreground", "--force"])
                .arg(format!("--key-file={}", key.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
                .arg(format!("--seed-file={}", munge.join("seed").display()))
                .arg(format!(
                    "--log-file={}",
                    dir.join("log/munged.log").display()
                )),
        )?;
        wait_for("the MUNGE socket", Duration::from_secs(20), || {
            Ok(socket.exists())
        })?;
        std::fs::write(&cluster.conf, slurm_conf(dir, &socket)?)?;
        let conf = cluster.conf.clone();
        cluster.spawn(
            "slurmctld",
            Command::new("slurmctld")
                .args(["-D", "-i", "-f"])
                .arg(&conf),
        )?;
        cluster.spawn(
            "slurmd",
            Command::new("slurmd").args(["-D", "-f"]).arg(&conf),
        )?;
        let cluster_ref = &cluster;
        wait_for("the node to be idle", Duration::from_secs(60), || {
            let output = cluster_ref
                .command("sinfo")
                .args(["-h", "-o", "%t"])
                .output()?;
            Ok(String::from_utf8_lossy(&output.stdout).trim() == "idle")
        })?;
        eprintln!("xtask: slurm: one-node cluster idle ({})", dir.display());
        Ok(cluster)
    }

    /// Starts a daemon in the foreground, its output in `log/<name>.out`.
    fn spawn(&mut self, name: &'static str, command: &mut Command) -> Result<()> {
        let log = std::fs::File::create(self.dir.join("log").join(format!("{name}.out")))?;
        let child = command
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.daemons.push((name, child));
        Ok(())
    }

    /// A Slurm client command for this cluster.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// Array tasks of job `id` that are still pending or running, by index.
    fn live_tasks(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let output = self
            .command("squeue")
            .args(["-h", "-r", "-j", id, "-o", "%K %T"])
            .output()?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(index, state)| (index.to_owned(), state.to_owned()))
            .collect())
    }

    /// The daemons' last log lines, for a failure message.
    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log", "munged.log"]
            .iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(8).collect();
                format!(
                    "{name}:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    /// Cancels what is left, then stops the daemons in reverse order: SIGTERM,
    /// and SIGKILL after 10 s.
    fn drop(&mut self) {
        let _ = self.command("scancel").arg("--partition=miners").status();
        for (name, child) in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
            eprintln!("xtask: slurm: stopped {name} (pid {})", child.id());
        }
    }
}

/// `slurm.conf` for one node named as this host, with 2 CPUs, on free ports.
fn slurm_conf(dir: &Path, munge_socket: &Path) -> Result<String> {
    let host = String::from_utf8(Command::new("hostname").arg("-s").output()?.stdout)?;
    let host = host.trim();
    let d = dir.display();
    Ok(format!(
        "ClusterName=miners-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=miners Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
        ctld = free_port()?,
        slurmd = free_port()?,
        socket = munge_socket.display(),
    ))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(mode),
    )?)
}

fn run_ok(command: &mut Command) -> Result<()> {
    let output = command.output()?;
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Polls `ready` every 50 ms until it holds or `limit` passes.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !ready()? {
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// One sweep spec, run unsharded and as an array, in `work/<name>`.
struct Sweep<'a> {
    root: &'a Path,
    cluster: &'a Cluster,
    work: &'a Path,
}

impl Sweep<'_> {
    fn miners(&self) -> PathBuf {
        self.root.join("target/release/miners")
    }

    /// The sweep of `spec` in one process, into `<dir>/unsharded`.
    fn unsharded(&self, spec: &str, dir: &Path) -> Result<PathBuf> {
        let out = dir.join("unsharded");
        let status = Command::new(self.miners())
            .args(["sweep", "--spec", spec, "--out"])
            .arg(&out)
            .arg("--cache")
            .arg(dir.join("unsharded-cache"))
            .env_remove("SLURM_ARRAY_TASK_ID")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("unsharded.log"))?)
            .status()?;
        ensure!(status.success(), "the unsharded sweep of {spec} failed");
        Ok(out)
    }

    /// `sbatch` of the committed job script for `indices`, sharing `<dir>/array`
    /// and `<dir>/cache`; `--wait` when `wait`. Returns the job id.
    fn submit(&self, spec: &str, dir: &Path, indices: &str, wait: bool) -> Result<String> {
        let mut command = self.cluster.command("sbatch");
        command
            .arg("--parsable")
            .arg(format!("--array={indices}"))
            .arg(format!("--output={}/task-%a.log", dir.display()))
            .arg(format!(
                "--export=ALL,SHARDS={TASKS},MINERS={},SPEC={},OUT={},CACHE={}",
                self.miners().display(),
                self.root.join(spec).display(),
                dir.join("array").display(),
                dir.join("cache").display()
            ))
            .current_dir(self.root);
        if wait {
            command.arg("--wait");
        }
        let output = command.arg("xtask/slurm/sweep.sbatch").output()?;
        if !output.status.success() {
            bail!(
                "sbatch --array={indices} failed: {}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.cluster.logs()
            );
        }
        let id = String::from_utf8(output.stdout)?;
        Ok(id.trim().split(';').next().unwrap_or_default().to_owned())
    }

    /// Four array tasks sharing one result and cache directory give the
    /// records of one unsharded run (but for wall time and memory) and the
    /// same report tables.
    fn array_equals_unsharded(&self, spec: &str, name: &str) -> Result<()> {
        let dir = self.work.join(name);
        std::fs::create_dir_all(&dir)?;
        let unsharded = self.unsharded(spec, &dir)?;
        self.submit(spec, &dir, &format!("0-{}", TASKS - 1), true)
            .with_context(|| self.task_logs(&dir))?;
        let array = dir.join("array");
        compare_records(&array, &unsharded)?;
        let tables = |results: &Path| -> Result<BTreeMap<PathBuf, Vec<u8>>> {
            let report = results.join("report");
            let status = Command::new(self.miners())
                .args(["report", "--results"])
                .arg(results)
                .arg("--out")
                .arg(&report)
                .stdout(Stdio::null())
                .status()?;
            ensure!(
                status.success(),
                "miners report --results {}",
                results.display()
            );
            files(&report.join("tables"))
        };
        let (sharded, whole) = (tables(&array)?, tables(&unsharded)?);
        ensure!(!whole.is_empty(), "the report wrote no tables");
        ensure!(
            sharded == whole,
            "the report tables of the array differ from the unsharded run's"
        );
        Ok(())
    }

    /// Cancels array task 1 once it has finished a part, lets the others
    /// finish, resubmits index 1 alone: the records equal an unsharded run,
    /// and the resubmitted task redid none of the parts task 1 had finished.
    /// A task that finished before the cancel reached it is tried again, up
    /// to three times.
    fn cancelled_task_is_resubmitted(&self, spec: &str, name: &str) -> Result<()> {
        for attempt in 1..=3 {
            let dir = self.work.join(format!("{name}-{attempt}"));
            std::fs::create_dir_all(&dir)?;
            if self.cancel_and_resubmit(spec, &dir)? {
                return Ok(());
            }
            eprintln!("xtask: slurm: task 1 finished before the cancel reached it; again");
        }
        bail!("three times, task 1 finished before it could be cancelled")
    }

    /// One try of [`Self::cancelled_task_is_resubmitted`]; `false` when the
    /// cancel came too late.
    fn cancel_and_resubmit(&self, spec: &str, dir: &Path) -> Result<bool> {
        let unsharded = self.unsharded(spec, dir)?;
        let id = self.submit(spec, dir, &format!("0-{}", TASKS - 1), false)?;
        let log = dir.join("task-1.log");
        wait_for(
            "array task 1 to finish a part",
            Duration::from_secs(300),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                Ok(text.contains(" done in "))
            },
        )?;
        run_ok(self.cluster.command("scancel").arg(format!("{id}_1")))?;
        wait_for("the array to end", Duration::from_secs(600), || {
            Ok(self.cluster.live_tasks(&id)?.is_empty())
        })?;
        let before = std::fs::read_to_string(&log)?;
        if before.contains("jobs run (") {
            return Ok(false);
        }
        let finished = before.matches(" done in ").count();
        ensure!(
            compare_records(&dir.join("array"), &unsharded).is_err(),
            "task 1 was cancelled, yet the array has every record"
        );
        self.submit(spec, dir, "1", true)
            .with_context(|| self.task_logs(dir))?;
        compare_records(&dir.join("array"), &unsharded)?;
        let after = std::fs::read_to_string(&log)?;
        let skipped = after
            .lines()
            .find_map(|line| {
                let head = line.split(" jobs already done").next()?;
                head.rsplit(", ").next()?.parse::<usize>().ok()
            })
            .with_context(|| format!("no summary in the resubmitted task's log:\n{after}"))?;
        ensure!(
            skipped >= finished,
            "task 1 had finished {finished} parts; resubmitted, it skipped only {skipped}:\n{after}"
        );
        eprintln!(
            "xtask: slurm: task 1 cancelled after {finished} of its parts; resubmitted, it skipped them and ran the rest"
        );
        Ok(true)
    }

    fn task_logs(&self, dir: &Path) -> String {
        let logs: Vec<String> = (0..TASKS)
            .map(|i| {
                let text =
                    std::fs::read_to_string(dir.join(format!("task-{i}.log"))).unwrap_or_default();
                format!("task {i}:\n{text}")
            })
            .collect();
        format!("{}\n{}", logs.join("\n"), self.cluster.logs())
    }
}

/// Every record under `results` (outside `.sweep/` and `report/`) equals the
/// one at the same path under `expected`, but for wall time and memory, and
/// no record is missing or extra; no temporary file is left.
fn compare_records(results: &Path, expected: &Path) -> Result<()> {
    let records = |dir: &Path| -> Result<BTreeMap<PathBuf, ResultRecord>> {
        let mut records = BTreeMap::new();
        for (path, bytes) in files(dir)? {
            let first = path
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            if matches!(first.as_deref(), Some(".sweep" | "report")) {
                continue;
            }
            ensure!(
                path.extension().is_some_and(|e| e == "json"),
                "{}: not a record (a temporary left behind?)",
                dir.join(&path).display()
            );
            let record: ResultRecord = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}", dir.join(&path).display()))?;
            records.insert(path, record.without_clocks());
        }
        Ok(records)
    };
    let (got, want) = (records(results)?, records(expected)?);
    let missing = want.keys().filter(|p| !got.contains_key(*p)).count();
    let extra = got.keys().filter(|p| !want.contains_key(*p)).count();
    ensure!(
        missing == 0 && extra == 0,
        "{}: {missing} records missing and {extra} extra against {} ({} records)",
        results.display(),
        expected.display(),
        want.len()
    );
    if let Some(path) = want.keys().find(|p| got[*p] != want[*p]) {
        bail!(
            "{}: differs from the unsharded run",
            results.join(path).display()
        );
    }
    Ok(())
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    for path in crate::files_under(dir)? {
        let relative = path.strip_prefix(dir)?.to_owned();
        found.insert(relative, std::fs::read(&path)?);
    }
    Ok(found)
}
