//! Results of record: the default sweep's records committed as packs under
//! `docs/results/records` (the ablation's under `docs/results/ablation/records`),
//! the reports and the README's headline tables made from them alone, and
//! the checks that keep all three equal.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use miners_eval::{ResultRecord, packs::RUN_FILE};

/// Each committed report and the packs it is made from.
pub const REPORTS: [(&str, &str); 2] = [
    ("docs/results", "docs/results/records"),
    ("docs/results/ablation", "docs/results/ablation/records"),
];

/// Where the README's results of record go.
const README_BEGIN: &str = "<!-- results of record: begin (cargo xtask report-of-record) -->";
const README_END: &str = "<!-- results of record: end -->";

/// What `RUN.json` beside the packs says about the run that made them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// The sweep spec.
    pub spec: String,
    /// The commit the sweep ran at.
    pub commit: String,
    /// The CPU (lscpu's model name, cores and the vector units that matter).
    pub cpu: String,
    /// The day the records were packed.
    pub date: String,
    /// Jobs finished and jobs in the spec.
    pub jobs: (usize, usize),
    /// Other specs whose records share the packs (the percentile study, the
    /// fine-tuned baseline), each run at its own commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplements: Vec<Run>,
}

impl Run {
    /// Describes `supplement` beside the run, in place of what was said of its spec.
    fn put_supplement(&mut self, supplement: Run) {
        self.supplements.retain(|s| s.spec != supplement.spec);
        self.supplements.push(supplement);
    }
}

/// A spec whose records are packed beside the main sweep's, and the commit
/// it ran at.
#[derive(Debug, Clone)]
pub struct Supplement {
    /// The sweep spec.
    pub spec: PathBuf,
    /// The commit it ran at.
    pub commit: String,
}

impl std::str::FromStr for Supplement {
    type Err = String;

    /// `SPEC@COMMIT`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.rsplit_once('@') {
            Some((spec, commit)) if !spec.is_empty() && !commit.is_empty() => Ok(Self {
                spec: spec.into(),
                commit: commit.into(),
            }),
            _ => Err(format!("`{text}` is not SPEC@COMMIT")),
        }
    }
}

/// Packs the records of `results` into `out` and writes `RUN.json` beside
/// them (`commit`: the commit the sweep ran at; `supplements`: other specs
/// whose records `results` also holds).
pub fn pack(
    results: &Path,
    out: &Path,
    spec: &Path,
    commit: &str,
    supplements: &[Supplement],
) -> Result<()> {
    let summary = miners_eval::packs::pack(results, out)?;
    let mut run = describe(results, spec, commit)?;
    for supplement in supplements {
        run.supplements
            .push(describe(results, &supplement.spec, &supplement.commit)?);
    }
    write_run(out, &run, summary)
}

/// Adds the records of `results`, the runs of `supplements`, to the packs
/// in `out`: the packs keep their other records, and `RUN.json` what it
/// says of the runs already there; a supplement it names already is
/// described afresh. Records already packed must agree with `results`.
pub fn add(results: &Path, out: &Path, supplements: &[Supplement]) -> Result<()> {
    let mut run = read_run(out)?;
    let staging = tempfile::tempdir()?;
    let merged = staging.path().join("results");
    miners_sweep::merge(&merged, &[out.to_owned(), results.to_owned()])?;
    let summary = miners_eval::packs::pack(&merged, out)?;
    for supplement in supplements {
        run.put_supplement(describe(results, &supplement.spec, &supplement.commit)?);
    }
    write_run(out, &run, summary)
}

/// The run of `spec` at `commit` whose records and job markers `results` holds,
/// on this machine, today.
fn describe(results: &Path, spec: &Path, commit: &str) -> Result<Run> {
    Ok(Run {
        spec: spec.display().to_string(),
        commit: commit.to_owned(),
        cpu: cpu()?,
        date: output("date", &["-u", "+%Y-%m-%d"])?,
        jobs: jobs_done(results, spec)?,
        supplements: Vec::new(),
    })
}

/// What `RUN.json` in the pack directory `packs` says.
fn read_run(packs: &Path) -> Result<Run> {
    let path = packs.join(RUN_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes `run` as `RUN.json` beside the packs in `out`, and says what was packed.
fn write_run(out: &Path, run: &Run, summary: miners_eval::packs::PackSummary) -> Result<()> {
    let json = serde_json::to_string_pretty(run)? + "\n";
    miners_core::atomic_write(&out.join(RUN_FILE), json.as_bytes())?;
    eprintln!(
        "records: {} results in {} packs under {} ({} stale packs removed); {} of {} jobs",
        summary.files,
        summary.packs,
        out.display(),
        summary.removed,
        run.jobs.0,
        run.jobs.1
    );
    for supplement in &run.supplements {
        eprintln!(
            "records: beside it {}: {} of {} jobs",
            supplement.spec, supplement.jobs.0, supplement.jobs.1
        );
    }
    Ok(())
}

/// Regenerates each committed report from its packs and the README's
/// results of record from the default sweep's; with `check`, writes nothing
/// and fails unless every file is already what the packs give, byte for byte.
pub fn report_of_record(root: &Path, check: bool) -> Result<()> {
    let mut stale = Vec::new();
    for (report, packs) in REPORTS {
        let (report, packs) = (root.join(report), root.join(packs));
        if !packs.is_dir() {
            continue;
        }
        let fresh = tempfile::tempdir()?;
        generate(&packs, &report, fresh.path())?;
        stale.extend(sync(fresh.path(), &report, check)?);
        if report == root.join(REPORTS[0].0) {
            let readme = root.join("README.md");
            let text = std::fs::read_to_string(&readme)?;
            let spliced = splice(&text, &readme_block(&packs, fresh.path())?)?;
            if spliced != text {
                stale.push(readme.clone());
                if !check {
                    std::fs::write(&readme, spliced)?;
                }
            }
        }
    }
    if check && !stale.is_empty() {
        let list: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "not what the committed records give (run `cargo xtask report-of-record`): {}",
            list.join(", ")
        );
    }
    Ok(())
}

/// The report of `packs` into `out`, with the t-SNE views of the committed
/// `report` (they come from encoders, not records) carried over.
fn generate(packs: &Path, report: &Path, out: &Path) -> Result<()> {
    for view in tsne_views(report)? {
        let target = out.join(view.strip_prefix(report)?);
        std::fs::create_dir_all(target.parent().expect("under out"))?;
        std::fs::copy(&view, &target)?;
    }
    let records = miners_report::load_records(packs)?;
    let mined = miners_report::load_mining(packs)?;
    miners_report::write_report(&records, &mined, out)?;
    Ok(())
}

/// The t-SNE views of a report.
fn tsne_views(report: &Path) -> Result<Vec<PathBuf>> {
    let plots = report.join("plots");
    if !plots.is_dir() {
        return Ok(Vec::new());
    }
    let mut views = Vec::new();
    for entry in std::fs::read_dir(&plots)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("tsne-") {
            views.push(path);
        }
    }
    Ok(views)
}

/// The report's files that differ from `fresh` (or are missing from it, or
/// from `report`); unless `check`, makes `report` equal to `fresh`. The
/// report's packs and nested reports are not its own files.
fn sync(fresh: &Path, report: &Path, check: bool) -> Result<Vec<PathBuf>> {
    let wanted = files(fresh)?;
    let present = files(report)?;
    let mut stale = Vec::new();
    for (relative, bytes) in &wanted {
        if present.get(relative) != Some(bytes) {
            stale.push(report.join(relative));
            if !check {
                let target = report.join(relative);
                std::fs::create_dir_all(target.parent().expect("under report"))?;
                std::fs::write(&target, bytes)?;
            }
        }
    }
    for relative in present.keys().filter(|r| !wanted.contains_key(*r)) {
        stale.push(report.join(relative));
        if !check {
            std::fs::remove_file(report.join(relative))?;
        }
    }
    Ok(stale)
}

/// Every file under `dir` by path relative to `root`, with its bytes,
/// leaving out packs (`records/`), nested reports (`ablation/`) and the
/// hand-written account of what moved (`CHANGES.md`).
fn files(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for path in crate::files_under(dir)? {
        let relative = path.strip_prefix(dir)?.to_owned();
        let first = relative.components().next().map(|c| c.as_os_str());
        if !first.is_some_and(|f| {
            ["records", "ablation", "CHANGES.md"]
                .iter()
                .any(|own| f == *own)
        }) {
            found.insert(relative, std::fs::read(&path)?);
        }
    }
    Ok(found)
}

/// The README's results of record: the run's line, then the headline
/// tables of the report in `fresh` (Table 2, Table 3, retrieval vs ICL vs
/// fine-tuned), their links pointing into docs/results.
fn readme_block(packs: &Path, fresh: &Path) -> Result<String> {
    let run = read_run(packs)?;
    let report = std::fs::read_to_string(fresh.join("REPORT.md"))?;
    let start = report
        .find("### Table 2")
        .context("REPORT.md has no Table 2")?;
    let end = report[start..]
        .find("\n## ")
        .map_or(report.len(), |i| start + i);
    let tables = report[start..end]
        .replace("](tables/", "](docs/results/tables/")
        .replace("](plots/", "](docs/results/plots/");
    let (done, total) = run.jobs;
    let partial = match done < total {
        true => format!(
            " **{done} of its {total} jobs are done**; the rest follow when the sweep resumes \
             from these records, and tables without a row or column for them lack it for that reason."
        ),
        false => String::new(),
    };
    let supplements: String = run
        .supplements
        .iter()
        .map(|s| {
            format!(
                " Beside it: `{}` at commit `{}` ({} of {} jobs), on {}, packed {}.",
                s.spec, s.commit, s.jobs.0, s.jobs.1, s.cpu, s.date
            )
        })
        .collect();
    Ok(format!(
        "Run of record: `{}` at commit `{}`, on {}, packed {}.{partial}{supplements} Records: \
         [docs/results/records](docs/results/records); report: \
         [docs/results/REPORT.md](docs/results/REPORT.md).\n\n{}",
        run.spec,
        run.commit,
        run.cpu,
        run.date,
        tables.trim_end()
    ))
}

/// `text` with the part between the README markers replaced by `block`.
fn splice(text: &str, block: &str) -> Result<String> {
    let begin = text
        .find(README_BEGIN)
        .context("README has no results-of-record marker")?;
    let end = text.find(README_END).context("README has no end marker")?;
    if end < begin {
        bail!("README's results-of-record markers are out of order");
    }
    Ok(format!(
        "{}{README_BEGIN}\n\n{block}\n\n{}",
        &text[..begin],
        &text[end..]
    ))
}

/// Reruns the static-model jobs of the default sweep (bitext and
/// classification with `static-tokenlearn`, about a minute) and requires
/// each of their records to equal the committed one: the same cells, the
/// same metrics, sizes and model fingerprint.
pub fn drift_guard(root: &Path, miners: impl Fn(&[String]) -> Result<()>) -> Result<()> {
    let packs = root.join(REPORTS[0].1);
    if !packs.is_dir() {
        eprintln!("xtask: no committed records yet; nothing to guard");
        return Ok(());
    }
    let committed: Vec<ResultRecord> = miners_report::load_records(&packs)?
        .into_iter()
        .filter(|r| r.model.id == STATIC && r.generator.is_none())
        .collect();
    if committed.is_empty() {
        eprintln!("xtask: no committed static-model records yet; nothing to guard");
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let spec = static_spec(&root.join("sweep.toml"), work.path())?;
    let out = work.path().join("results");
    let args = [
        "sweep",
        "--spec",
        &spec.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--cache",
        &work.path().join("cache").display().to_string(),
    ];
    miners(&args.map(str::to_owned))?;
    let rerun = miners_report::load_records(&out)?;
    let key = |r: &ResultRecord| r.path(Path::new(""));
    let rerun: BTreeMap<PathBuf, &ResultRecord> = rerun.iter().map(|r| (key(r), r)).collect();
    let mut moved = Vec::new();
    for record in &committed {
        match rerun.get(&key(record)) {
            Some(now) if same_scores(record, now) => {}
            Some(_) => moved.push(format!("{} (scores moved)", key(record).display())),
            None => moved.push(format!("{} (not made again)", key(record).display())),
        }
    }
    if !moved.is_empty() {
        bail!(
            "{} committed static-model records differ from today's code: {}; a change that \
             moves a committed number updates the records in the same commit and says why in \
             docs/results/CHANGES.md",
            moved.len(),
            moved.join(", ")
        );
    }
    eprintln!(
        "xtask: {} committed static-model records made again, equal",
        committed.len()
    );
    Ok(())
}

const STATIC: &str = "static-tokenlearn";

/// The default sweep with the static model alone, bitext and classification.
fn static_spec(spec: &Path, dir: &Path) -> Result<PathBuf> {
    let mut table: toml::Table = toml::from_str(&std::fs::read_to_string(spec)?)?;
    table.insert("encoders".into(), toml::Value::Array(vec![STATIC.into()]));
    for section in ["ensembles", "icl", "mining"] {
        table.remove(section);
    }
    let path = dir.join("static.toml");
    std::fs::write(&path, toml::to_string(&table)?)?;
    Ok(path)
}

/// Whether two records of one cell agree on everything a run decides:
/// scores, sizes, model and fingerprint.
fn same_scores(a: &ResultRecord, b: &ResultRecord) -> bool {
    a.metrics == b.metrics && a.n == b.n && a.limit == b.limit && a.model == b.model
}

/// The jobs of `spec` that `results` holds finished (by their sweep
/// markers), and the jobs the spec expands into on the data directory at hand.
fn jobs_done(results: &Path, spec: &Path) -> Result<(usize, usize)> {
    let spec = miners_sweep::SweepSpec::read(spec)?;
    let data = miners_datasets::DataDir::resolve(None)?;
    let jobs = miners_sweep::jobs(&spec, &data)?;
    let markers = results.join(".sweep");
    let done = jobs
        .iter()
        .filter(|job| markers.join(format!("{}.done", job.name())).is_file())
        .count();
    Ok((done, jobs.len()))
}

/// The CPU as the figures name it: lscpu's model name, its core count and
/// which of AVX2, AVX-512, AVX512-BF16 and AMX it has.
fn cpu() -> Result<String> {
    let lscpu = output("lscpu", &[])?;
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let flags = field("Flags:");
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    let units: Vec<&str> = [
        ("avx2", "AVX2"),
        ("avx512f", "AVX-512"),
        ("avx512_bf16", "AVX512-BF16"),
        ("amx_bf16", "AMX"),
    ]
    .into_iter()
    .filter(|(flag, _)| has(flag))
    .map(|(_, name)| name)
    .collect();
    Ok(format!(
        "{}, {} cores, {}",
        field("Model name:"),
        field("CPU(s):"),
        units.join(", ")
    ))
}

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program).args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supplement_described_again_replaces_what_was_said_of_it() {
        let run = |spec: &str, commit: &str, done: usize| Run {
            spec: spec.into(),
            commit: commit.into(),
            cpu: "cpu".into(),
            date: "2026-12-07".into(),
            jobs: (done, 4),
            supplements: Vec::new(),
        };
        let mut main = run("sweep.toml", "aaa", 4);
        main.put_supplement(run("sweep-percentile.toml", "bbb", 4));
        main.put_supplement(run("sweep-finetune.toml", "ccc", 1));
        main.put_supplement(run("sweep-finetune.toml", "ddd", 2));
        let said: Vec<_> = main
            .supplements
            .iter()
            .map(|s| (s.spec.as_str(), s.commit.as_str(), s.jobs.0))
            .collect();
        assert_eq!(
            said,
            [
                ("sweep-percentile.toml", "bbb", 4),
                ("sweep-finetune.toml", "ddd", 2)
            ]
        );
        assert_eq!(
            (main.spec.as_str(), main.commit.as_str()),
            ("sweep.toml", "aaa")
        );
    }

    #[test]
    fn splice_replaces_only_what_lies_between_the_markers() {
        let text = format!("intro\n{README_BEGIN}\nold\n{README_END}\noutro\n");
        let spliced = splice(&text, "new").unwrap();
        assert_eq!(
            spliced,
            format!("intro\n{README_BEGIN}\n\nnew\n\n{README_END}\noutro\n")
        );
        assert_eq!(splice(&spliced, "new").unwrap(), spliced);
        assert!(splice("no markers", "new").is_err());
        let reversed = format!("{README_END}\n{README_BEGIN}\n");
        assert!(splice(&reversed, "new").is_err());
    }

    #[test]
    fn sync_names_every_difference_and_writes_only_when_asked() {
        let (fresh, report) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let write = |dir: &Path, name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(fresh.path(), "REPORT.md", "new");
        write(fresh.path(), "tables/t.md", "same");
        write(report.path(), "REPORT.md", "old");
        write(report.path(), "tables/t.md", "same");
        write(report.path(), "tables/gone.md", "stale");
        write(
            report.path(),
            "records/bitext/x.jsonl",
            "packs are not the report's",
        );
        let stale = sync(fresh.path(), report.path(), true).unwrap();
        let names: Vec<_> = stale
            .iter()
            .map(|p| p.strip_prefix(report.path()).unwrap())
            .collect();
        assert_eq!(names, [Path::new("REPORT.md"), Path::new("tables/gone.md")]);
        assert_eq!(
            std::fs::read_to_string(report.path().join("REPORT.md")).unwrap(),
            "old"
        );
        sync(fresh.path(), report.path(), false).unwrap();
        assert!(sync(fresh.path(), report.path(), true).unwrap().is_empty());
        assert!(report.path().join("records/bitext/x.jsonl").is_file());
    }
}
