//! One recipe per dataset: which original files, read how, become which TSV
//! files. Each reads its originals as the reference's loader does.

use super::read::{Table, json_lines, lines, numpy_strings};
use super::{Originals, Output, TsvFile};
use crate::DatasetError;

/// A dataset's conversion.
pub(super) struct Recipe {
    /// The dataset.
    pub name: &'static str,
    /// Reads the originals and names the files to write.
    pub convert: fn(&Originals) -> Result<Output, DatasetError>,
}

/// Every dataset that comes from original files.
pub(super) static RECIPES: &[Recipe] = &[
    Recipe {
        name: "fire",
        convert: fire,
    },
    Recipe {
        name: "flores_bucc_substitute",
        convert: flores_bucc_substitute,
    },
    Recipe {
        name: "lince_mt",
        convert: lince_mt,
    },
    Recipe {
        name: "lince_sa",
        convert: lince_sa,
    },
    Recipe {
        name: "massive_substitute_slurp_en",
        convert: slurp,
    },
    Recipe {
        name: "nollysenti",
        convert: nollysenti,
    },
    Recipe {
        name: "nusatranslation",
        convert: nusatranslation,
    },
    Recipe {
        name: "nusax",
        convert: nusax,
    },
    Recipe {
        name: "phinc",
        convert: phinc,
    },
    Recipe {
        name: "sib200",
        convert: sib200,
    },
    Recipe {
        name: "tatoeba",
        convert: tatoeba,
    },
];

/// The layout's split names and the file names most originals use for them.
const SPLITS: [(&str, &str); 3] = [("train", "train"), ("validation", "dev"), ("test", "test")];

type Rows = Vec<[String; 2]>;

fn strings(languages: &[&str]) -> Vec<String> {
    languages.iter().map(|l| (*l).to_owned()).collect()
}

/// Two named columns of a table with a header.
fn columns(table: &Table, first: &str, second: &str) -> Result<Rows, DatasetError> {
    let (a, b) = (table.column(first)?, table.column(second)?);
    table
        .body()
        .iter()
        .map(|row| {
            Ok([
                table.field(row, a)?.to_owned(),
                table.field(row, b)?.to_owned(),
            ])
        })
        .collect()
}

/// Pairs row `i` of `source` with row `i` of `target`, which must be as long.
fn zip_sides(source: Vec<String>, target: Vec<String>, what: &str) -> Result<Rows, DatasetError> {
    if source.len() != target.len() {
        return Err(DatasetError::Parse {
            path: what.into(),
            line: 0,
            message: format!(
                "{} source rows but {} target rows",
                source.len(),
                target.len()
            ),
        });
    }
    Ok(source
        .into_iter()
        .zip(target)
        .map(|(s, t)| [s, t])
        .collect())
}

fn first_column(rows: Rows) -> Vec<String> {
    rows.into_iter().map(|[text, _]| text).collect()
}

/// NusaX: `datasets/sentiment/<language>/{train,valid,test}.csv` (id, text,
/// label); bitext pairs English with each language by row (ids checked).
fn nusax(repo: &Originals) -> Result<Output, DatasetError> {
    let names = repo.string_map("language_names")?;
    let splits = [
        ("train", "train"),
        ("validation", "valid"),
        ("test", "test"),
    ];
    let read = |name: &str, file: &str| {
        Table::read(
            &repo.path(&format!("datasets/sentiment/{name}/{file}.csv")),
            b',',
        )
    };
    let mut files = Vec::new();
    for (code, name) in &names {
        for (split, file) in splits {
            files.push(TsvFile::labelled(
                code,
                split,
                columns(&read(name, file)?, "text", "label")?,
            ));
        }
    }
    for (split, file) in splits {
        let english = read("english", file)?;
        for (code, name) in names.iter().filter(|(code, _)| code != "eng") {
            let other = read(name, file)?;
            let ids = |t: &Table| columns(t, "id", "text").map(first_column);
            if ids(&english)? != ids(&other)? {
                return Err(other.error(0, "ids differ from the English file's, rows do not align"));
            }
            let rows = zip_sides(
                first_column(columns(&english, "text", "label")?),
                first_column(columns(&other, "text", "label")?),
                name,
            )?;
            files.push(TsvFile::bitext(&format!("eng-{code}"), split, rows));
        }
    }
    let languages = names.into_iter().map(|(code, _)| code).collect();
    Ok(Output { languages, files })
}

/// NusaTranslation: `data/nusa_kalimat-mt-<lang>-{train,valid,test}.csv`
/// (id, ind_text, tgt_text), Indonesian source.
fn nusatranslation(repo: &Originals) -> Result<Output, DatasetError> {
    const TARGETS: [&str; 11] = [
        "abs", "btk", "bew", "bhp", "jav", "mad", "mak", "min", "mui", "rej", "sun",
    ];
    let mut files = Vec::new();
    for lang in TARGETS {
        for (split, file) in [
            ("train", "train"),
            ("validation", "valid"),
            ("test", "test"),
        ] {
            let path = repo.path(&format!("data/nusa_kalimat-mt-{lang}-{file}.csv"));
            let rows = columns(&Table::read(&path, b',')?, "ind_text", "tgt_text")?;
            files.push(TsvFile::bitext(&format!("ind-{lang}"), split, rows));
        }
    }
    let languages = std::iter::once("ind")
        .chain(TARGETS)
        .map(str::to_owned)
        .collect();
    Ok(Output { languages, files })
}

/// Tatoeba (LASER): `data/tatoeba/v1/tatoeba.<lang>-eng.{<lang>,eng}`, one
/// sentence per line; the non-English side is the source.
fn tatoeba(repo: &Originals) -> Result<Output, DatasetError> {
    let folder = "data/tatoeba/v1/";
    let mut langs: Vec<String> = repo
        .pinned_under(folder)
        .iter()
        .filter_map(|f| {
            f.strip_prefix("tatoeba.")?
                .strip_suffix("-eng.eng")
                .map(str::to_owned)
        })
        .collect();
    langs.sort();
    let mut files = Vec::new();
    for lang in &langs {
        let side =
            |suffix: &str| lines(&repo.path(&format!("{folder}tatoeba.{lang}-eng.{suffix}")));
        let rows = zip_sides(side(lang)?, side("eng")?, &format!("tatoeba {lang}-eng"))?;
        files.push(TsvFile::bitext(&format!("{lang}-eng"), "test", rows));
    }
    langs.push("eng".to_owned());
    Ok(Output {
        languages: langs,
        files,
    })
}

/// SIB-200: `data/annotated/<lang>/{train,dev,test}.tsv` (index_id, category, text).
fn sib200(repo: &Originals) -> Result<Output, DatasetError> {
    let mut langs: Vec<String> = repo
        .pinned_under("data/annotated/")
        .iter()
        .filter_map(|f| f.strip_suffix("/train.tsv").map(str::to_owned))
        .collect();
    langs.sort();
    let mut files = Vec::new();
    for lang in &langs {
        for (split, file) in SPLITS {
            let table = sib_table(repo, lang, file)?;
            files.push(TsvFile::labelled(
                lang,
                split,
                columns(&table, "text", "category")?,
            ));
        }
    }
    Ok(Output {
        languages: langs,
        files,
    })
}

fn sib_table(repo: &Originals, lang: &str, file: &str) -> Result<Table, DatasetError> {
    Table::read(
        &repo.path(&format!("data/annotated/{lang}/{file}.tsv")),
        b'\t',
    )
}

/// The BUCC substitute: FLORES sentences of SIB-200 (train, dev and test in
/// one set), German, French, Russian and Chinese against English.
fn flores_bucc_substitute(repo: &Originals) -> Result<Output, DatasetError> {
    const PAIRS: [(&str, &str); 4] = [
        ("de", "deu_Latn"),
        ("fr", "fra_Latn"),
        ("ru", "rus_Cyrl"),
        ("zh", "zho_Hans"),
    ];
    let mut files = Vec::new();
    for (code, lang) in PAIRS {
        let mut rows = Vec::new();
        for (_, file) in SPLITS {
            let (source, english) = (
                sib_table(repo, lang, file)?,
                sib_table(repo, "eng_Latn", file)?,
            );
            let ids = |t: &Table| columns(t, "index_id", "text").map(first_column);
            if ids(&source)? != ids(&english)? {
                return Err(source.error(0, "index_ids differ from eng_Latn's, rows do not align"));
            }
            let text = |t: &Table| columns(t, "text", "index_id").map(first_column);
            rows.extend(zip_sides(text(&source)?, text(&english)?, lang)?);
        }
        files.push(TsvFile::bitext(&format!("{code}-en"), "test", rows));
    }
    Ok(Output {
        languages: strings(&["de", "fr", "ru", "zh", "en"]),
        files,
    })
}

/// FIRE 2020 (shipped with the reference): `datasets/fire_<lang>/<lang>_{train,dev,test}.tsv`;
/// the test files have an id column first. Labels are stripped and mapped as
/// the reference maps them (`label_mapping_applied`).
fn fire(repo: &Originals) -> Result<Output, DatasetError> {
    let mapping = repo.string_map("label_mapping_applied")?;
    let langs = ["malayalam", "tamil"];
    let mut files = Vec::new();
    for lang in langs {
        for (split, file) in SPLITS {
            let table = Table::read(
                &repo.path(&format!("datasets/fire_{lang}/{lang}_{file}.tsv")),
                b'\t',
            )?;
            let rows = table
                .body()
                .iter()
                .map(|row| {
                    let (text, label) = match file {
                        "test" => {
                            let [_, t, l] = table.exactly(row)?;
                            (t, l)
                        }
                        _ => {
                            let [t, l] = table.exactly(row)?;
                            (t, l)
                        }
                    };
                    let label = label.trim();
                    let mapped = mapping
                        .iter()
                        .find(|(from, _)| from == label)
                        .map_or(label, |(_, to)| to);
                    Ok([text.to_owned(), mapped.to_owned()])
                })
                .collect::<Result<_, DatasetError>>()?;
            files.push(TsvFile::labelled(lang, split, rows));
        }
    }
    Ok(Output {
        languages: strings(&langs),
        files,
    })
}

/// LinCE MT (shipped with the reference): `datasets/lince_mt_eng_hinglish/{train,dev}.txt`,
/// `english<TAB>hinglish` per line.
fn lince_mt(repo: &Originals) -> Result<Output, DatasetError> {
    let mut files = Vec::new();
    for (split, file) in &SPLITS[..2] {
        let path = repo.path(&format!("datasets/lince_mt_eng_hinglish/{file}.txt"));
        let rows = lines(&path)?
            .iter()
            .enumerate()
            .map(|(i, line)| match line.split('\t').collect::<Vec<_>>()[..] {
                [eng, hinglish] => Ok([eng.to_owned(), hinglish.to_owned()]),
                ref fields => Err(DatasetError::Parse {
                    path: path.clone(),
                    line: i + 1,
                    message: format!("{} tab-separated fields, expected 2", fields.len()),
                }),
            })
            .collect::<Result<_, _>>()?;
        files.push(TsvFile::bitext("eng-hinglish", split, rows));
    }
    Ok(Output {
        languages: strings(&["eng", "hinglish"]),
        files,
    })
}

/// PHINC (shipped with the reference): `datasets/phinc/train.tsv`
/// (Hinglish, English); English is the source.
fn phinc(repo: &Originals) -> Result<Output, DatasetError> {
    let table = Table::read(&repo.path("datasets/phinc/train.tsv"), b'\t')?;
    let rows = table
        .body()
        .iter()
        .map(|row| {
            table
                .exactly(row)
                .map(|[hinglish, english]| [english.to_owned(), hinglish.to_owned()])
        })
        .collect::<Result<_, _>>()?;
    let files = vec![TsvFile::bitext("eng-hinglish", "train", rows)];
    Ok(Output {
        languages: strings(&["eng", "hinglish"]),
        files,
    })
}

/// NollySenti (shipped with the reference): `datasets/nollysenti/<lang>/{train,dev,test}.tsv`
/// (text, label); bitext pairs the English 400 subset with each language by row.
fn nollysenti(repo: &Originals) -> Result<Output, DatasetError> {
    let langs = ["en", "ha", "ig", "pcm", "yo"];
    let read = |lang: &str, file: &str| -> Result<Rows, DatasetError> {
        let table = Table::read(
            &repo.path(&format!("datasets/nollysenti/{lang}/{file}.tsv")),
            b'\t',
        )?;
        table
            .body()
            .iter()
            .map(|row| {
                table
                    .exactly(row)
                    .map(|[t, l]| [t.to_owned(), l.to_owned()])
            })
            .collect()
    };
    let mut files = Vec::new();
    for lang in langs {
        for (split, file) in SPLITS {
            files.push(TsvFile::labelled(lang, split, read(lang, file)?));
        }
    }
    for target in ["ha", "ig", "pcm", "yo400"] {
        for (split, file) in SPLITS {
            let what = format!("nollysenti en400-{target} {file}");
            let rows = zip_sides(
                first_column(read("en400", file)?),
                first_column(read(target, file)?),
                &what,
            )?;
            files.push(TsvFile::bitext(&format!("en400-{target}"), split, rows));
        }
    }
    Ok(Output {
        languages: strings(&langs),
        files,
    })
}

/// LinCE SA (a Kaggle export of the Hub's `lince/sa_spaeng`):
/// `data/sa_spaeng_{train,validation}.csv` (idx, words, lid, sa), `words` a
/// numpy-printed list joined by spaces as the reference joins it.
fn lince_sa(repo: &Originals) -> Result<Output, DatasetError> {
    let mut files = Vec::new();
    for split in ["train", "validation"] {
        let table = Table::read(&repo.path(&format!("data/sa_spaeng_{split}.csv")), b',')?;
        let (words, label) = (table.column("words")?, table.column("sa")?);
        let rows = table
            .body()
            .iter()
            .map(|row| {
                let text = numpy_strings(table.field(row, words)?)
                    .map_err(|m| table.error(row.line, &m))?;
                Ok([text.join(" "), table.field(row, label)?.to_owned()])
            })
            .collect::<Result<_, DatasetError>>()?;
        files.push(TsvFile::labelled("spaeng", split, rows));
    }
    Ok(Output {
        languages: strings(&["spaeng"]),
        files,
    })
}

/// The MASSIVE substitute: SLURP `dataset/slurp/{devel,test}.jsonl`, text
/// `sentence`, label `<scenario>_<action>` (MASSIVE's intent naming).
fn slurp(repo: &Originals) -> Result<Output, DatasetError> {
    let mut files = Vec::new();
    for (split, file) in [("validation", "devel"), ("test", "test")] {
        let path = repo.path(&format!("dataset/slurp/{file}.jsonl"));
        let rows = json_lines(&path)?
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let field = |key: &str| {
                    record
                        .get(key)
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| DatasetError::Parse {
                            path: path.clone(),
                            line: i + 1,
                            message: format!("no string field `{key}`"),
                        })
                };
                Ok([
                    field("sentence")?.to_owned(),
                    format!("{}_{}", field("scenario")?, field("action")?),
                ])
            })
            .collect::<Result<_, DatasetError>>()?;
        files.push(TsvFile::labelled("en", split, rows));
    }
    Ok(Output {
        languages: strings(&["en"]),
        files,
    })
}
