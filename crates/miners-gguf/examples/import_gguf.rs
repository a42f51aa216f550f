//! Imports a GGUF file into a Hugging Face directory:
//! `cargo run --release -p miners-gguf --example import_gguf -- IN.gguf OUT_DIR [bf16]`.

use miners_gguf::{StoreType, import_gguf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: import_gguf IN.gguf OUT_DIR [bf16]".into());
    };
    let store = match rest.first().map(String::as_str) {
        Some("bf16") => StoreType::Bf16,
        _ => StoreType::F32,
    };
    let report = import_gguf(input.as_ref(), output.as_ref(), store)?;
    println!("{report:?}");
    Ok(())
}
