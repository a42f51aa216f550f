//! Opening models through the catalog and from directories.

use std::path::{Path, PathBuf};

use miners_encoders::Role;
use miners_models::{Catalog, EncoderEntry, Models, ModelsError};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_repository_catalog_parses_with_every_backend_tagged() {
    let catalog = Catalog::read(&workspace().join("models.toml")).unwrap();
    let ids: Vec<&str> = catalog.encoders.iter().map(EncoderEntry::id).collect();
    assert_eq!(ids, ["static-tokenlearn", "minilm-l6", "e5-small"]);
    assert_eq!(
        catalog.encoder("static-tokenlearn").unwrap().backend(),
        "static"
    );
    assert_eq!(catalog.encoder("e5-small").unwrap().backend(), "torch");
    assert_eq!(catalog.generators.len(), 3);
    assert_eq!(
        catalog.generator("qwen2.5-0.5b").unwrap().scoring(),
        (miners_icl::ScoringKind::Generate, false)
    );
    assert_eq!(
        catalog.generator("gemma3-270m").unwrap().scoring(),
        (miners_icl::ScoringKind::Logprob, false)
    );
}

#[test]
fn unknown_references_list_the_catalog() {
    let models = Models::from_file(&workspace().join("models.toml")).unwrap();
    let err = models.encoder_entry("no-such-model").unwrap_err();
    assert!(matches!(err, ModelsError::Unknown { .. }));
    assert_eq!(
        err.to_string(),
        "encoder `no-such-model`: neither a model directory nor a catalog id \
         (known: static-tokenlearn, minilm-l6, e5-small)"
    );
    let err = models.generator_entry("no-such-model").unwrap_err();
    assert!(err.to_string().contains("smollm2-135m"), "{err}");
}

#[test]
fn an_entry_whose_directory_is_missing_says_how_to_fetch_it() {
    let catalog = Catalog::parse(
        "[[model]]\nid = \"gone\"\nbackend = \"static\"\npath = \"nowhere\"\n",
        Path::new("/nonexistent"),
    )
    .unwrap();
    let err = Models::new(catalog).open_encoder("gone").err().unwrap();
    assert!(
        err.to_string().contains("cargo xtask fetch-models"),
        "{err}"
    );
}

#[test]
fn a_directory_picks_its_backend_from_its_files() {
    let tiny = workspace().join("fixtures/tiny-bert");
    let models = Models::default();
    let entry = models.encoder_entry(tiny.to_str().unwrap()).unwrap();
    assert_eq!((entry.id(), entry.backend()), ("tiny-bert", "torch"));
    let empty = tempfile::tempdir().unwrap();
    let err = models
        .encoder_entry(empty.path().to_str().unwrap())
        .unwrap_err();
    assert!(matches!(err, ModelsError::NotAModel { .. }), "{err}");
}

#[test]
fn a_precision_override_is_another_model() {
    let tiny = workspace().join("fixtures/tiny-bert");
    let models = Models::default().with_dtype(Some(miners_encoders::spec::DType::BFloat16));
    let entry = models.encoder_entry(tiny.to_str().unwrap()).unwrap();
    assert_eq!(entry.id(), "tiny-bert@bfloat16");
}

#[cfg(feature = "torch")]
#[test]
fn torch_directories_open_and_encode() {
    let tiny = workspace().join("fixtures/tiny-bert");
    let encoder = Models::default()
        .open_encoder(tiny.to_str().unwrap())
        .unwrap();
    let vectors = encoder.encode(&["hello", "world"], Role::Query).unwrap();
    assert_eq!((vectors.len(), vectors.dim()), (2, encoder.dim()));
}

#[cfg(not(feature = "torch"))]
#[test]
fn torch_directories_need_the_torch_feature() {
    let tiny = workspace().join("fixtures/tiny-bert");
    let err = Models::default()
        .open_encoder(tiny.to_str().unwrap())
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ModelsError::BackendNotBuilt {
                backend: "torch",
                ..
            }
        ),
        "{err}"
    );
    let _ = Role::Query;
}

#[test]
fn the_static_model_opens_from_the_catalog() {
    let models = Models::from_file(&workspace().join("models.toml")).unwrap();
    match models.open_encoder("static-tokenlearn") {
        Ok(encoder) => {
            let vectors = encoder.encode(&["Halo dunia"], Role::Query).unwrap();
            assert_eq!(vectors.dim(), encoder.dim());
        }
        Err(ModelsError::NotFetched { .. }) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: run `cargo xtask fetch-models`")
        }
        Err(error) => panic!("{error}"),
    }
}
