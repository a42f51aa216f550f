use serde::{Deserialize, Serialize};

/// A dataset split as named in the TSV file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `*.train.tsv`
    Train,
    /// `*.validation.tsv`
    Validation,
    /// `*.test.tsv`
    Test,
}

impl Split {
    /// The name used in file names.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// How the reference scores a dataset's bitext: these splits, concatenated in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitextPlan {
    /// Splits merged into one retrieval set.
    pub splits: &'static [Split],
}

/// How the reference scores a dataset's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassificationPlan {
    /// Split that forms the labelled retrieval pool.
    pub pool: Split,
    /// Split that is classified and scored.
    pub test: Split,
    /// Default source language of the cross-lingual setting.
    pub cross_source: Option<&'static str>,
    /// Raw labels folded into another label on load (`from`, `to`).
    pub label_map: &'static [(&'static str, &'static str)],
    /// Label maps a user may add by name (deviations from the reference).
    pub label_options: &'static [LabelOption],
    /// Underscores in labels become spaces (the reference's MASSIVE labels).
    pub underscores_as_spaces: bool,
    /// The ICL instruction the paper uses for this dataset.
    pub instruction: &'static str,
    /// The metric the paper's tables report for this dataset.
    pub headline: Headline,
    /// The labels an ICL generator chooses from, in the reference's order.
    pub candidates: Candidates,
    /// Row `i` of every language's split is the same sample translated, in
    /// the test and the training split alike (NusaX, SIB-200), so samples
    /// can be followed across languages.
    pub parallel_test: bool,
}

/// A named label map that deviates from the reference, chosen explicitly and
/// recorded in results (`dataset` becomes `<name>+<option>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelOption {
    /// The option's name (`fold-not-tamil`).
    pub name: &'static str,
    /// Raw labels folded into another label (`from`, `to`), after the plan's own map.
    pub map: &'static [(&'static str, &'static str)],
    /// What it does and why one would want it.
    pub about: &'static str,
}

/// Where the ICL candidate labels and their order come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates {
    /// The manifest's labels after the label map, in manifest order.
    Manifest,
    /// This list, as the reference spells it (it may hold labels the data lacks).
    Listed(&'static [&'static str]),
    /// Order of first appearance in the train, validation and test splits, as
    /// the reference builds MASSIVE's and SIB-200's label lists.
    FirstSeen,
}

/// The score a dataset's classification results are reported by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Headline {
    /// Accuracy (most datasets).
    Accuracy,
    /// Macro-F1 (NusaX, as the paper reports it).
    MacroF1,
}

/// The reference's three-way sentiment labels.
const NEGATIVE_NEUTRAL_POSITIVE: Candidates =
    Candidates::Listed(&["negative", "neutral", "positive"]);

/// The paper's ICL instruction for sentiment datasets.
pub const SENTIMENT: &str = "Generate a sentiment label for a given input.";
/// The paper's ICL instruction for topic datasets.
pub const TOPIC: &str = "Generate a topic label for a given input.";
/// The paper's ICL instruction for intent datasets.
pub const INTENT: &str = "Generate an intent label for a given input.";

/// Everything the registry knows about one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Directory and CLI name.
    pub name: &'static str,
    /// The original dataset this one stands in for, if it is a substitute.
    pub substitute_for: Option<&'static str>,
    /// Whether the texts are code-switched (LinCE, PHINC, FIRE).
    pub code_switched: bool,
    /// Bitext retrieval, if the dataset has it.
    pub bitext: Option<BitextPlan>,
    /// Retrieval-based classification, if the dataset has it.
    pub classification: Option<ClassificationPlan>,
}

const TRAIN: &[Split] = &[Split::Train];
const TEST: &[Split] = &[Split::Test];

const fn classification(
    pool: Split,
    test: Split,
    cross_source: Option<&'static str>,
    instruction: &'static str,
) -> ClassificationPlan {
    ClassificationPlan {
        pool,
        test,
        cross_source,
        label_map: &[],
        label_options: &[],
        underscores_as_spaces: false,
        instruction,
        headline: Headline::Accuracy,
        candidates: Candidates::Manifest,
        parallel_test: false,
    }
}

const fn dataset(name: &'static str) -> DatasetSpec {
    DatasetSpec {
        name,
        substitute_for: None,
        code_switched: false,
        bitext: None,
        classification: None,
    }
}

static REGISTRY: &[DatasetSpec] = &[
    // From the Hub's parquet export (`miners data fetch --dataset bucc`).
    DatasetSpec {
        bitext: Some(BitextPlan { splits: TEST }),
        ..dataset("bucc")
    },
    DatasetSpec {
        substitute_for: Some("bucc"),
        bitext: Some(BitextPlan { splits: TEST }),
        ..dataset("flores_bucc_substitute")
    },
    DatasetSpec {
        bitext: Some(BitextPlan { splits: TEST }),
        ..dataset("tatoeba")
    },
    DatasetSpec {
        bitext: Some(BitextPlan { splits: TRAIN }),
        classification: Some(ClassificationPlan {
            headline: Headline::MacroF1,
            candidates: NEGATIVE_NEUTRAL_POSITIVE,
            parallel_test: true,
            ..classification(Split::Train, Split::Test, Some("eng"), SENTIMENT)
        }),
        ..dataset("nusax")
    },
    DatasetSpec {
        bitext: Some(BitextPlan { splits: TRAIN }),
        ..dataset("nusatranslation")
    },
    DatasetSpec {
        code_switched: true,
        bitext: Some(BitextPlan {
            splits: &[Split::Train, Split::Validation],
        }),
        ..dataset("lince_mt")
    },
    DatasetSpec {
        code_switched: true,
        bitext: Some(BitextPlan { splits: TRAIN }),
        ..dataset("phinc")
    },
    DatasetSpec {
        bitext: Some(BitextPlan { splits: TRAIN }),
        // The reference offers `neutral`, which NollySenti's data never has.
        classification: Some(ClassificationPlan {
            candidates: NEGATIVE_NEUTRAL_POSITIVE,
            ..classification(Split::Train, Split::Test, Some("en"), SENTIMENT)
        }),
        ..dataset("nollysenti")
    },
    // From the Hub's parquet export (`miners data fetch --dataset massive_intent`).
    DatasetSpec {
        classification: Some(ClassificationPlan {
            underscores_as_spaces: true,
            candidates: Candidates::FirstSeen,
            ..classification(Split::Train, Split::Test, Some("en"), INTENT)
        }),
        ..dataset("massive_intent")
    },
    DatasetSpec {
        substitute_for: Some("massive_intent"),
        classification: Some(ClassificationPlan {
            underscores_as_spaces: true,
            candidates: Candidates::FirstSeen,
            ..classification(Split::Validation, Split::Test, None, INTENT)
        }),
        ..dataset("massive_substitute_slurp_en")
    },
    DatasetSpec {
        classification: Some(ClassificationPlan {
            candidates: Candidates::FirstSeen,
            parallel_test: true,
            ..classification(Split::Train, Split::Test, Some("eng_Latn"), TOPIC)
        }),
        ..dataset("sib200")
    },
    DatasetSpec {
        classification: Some(ClassificationPlan {
            underscores_as_spaces: true,
            candidates: Candidates::FirstSeen,
            ..classification(Split::Train, Split::Test, Some("en"), INTENT)
        }),
        ..dataset("mtop_intent")
    },
    DatasetSpec {
        code_switched: true,
        classification: Some(ClassificationPlan {
            // The reference maps `not-tamil`, but the Tamil files say `not-Tamil`,
            // which it leaves as a fifth label; so do we, unless asked to fold it.
            label_options: &[LabelOption {
                name: "fold-not-tamil",
                map: &[("not-Tamil", "Unknown")],
                about: "fold Tamil's `not-Tamil` into `Unknown`, as the reference folds `not-malayalam`",
            }],
            candidates: Candidates::Listed(&["Positive", "Negative", "Mixed", "Unknown"]),
            ..classification(Split::Train, Split::Test, Some("tamil"), SENTIMENT)
        }),
        ..dataset("fire")
    },
    DatasetSpec {
        code_switched: true,
        // The reference classifies the validation split: the HF test split has no labels.
        classification: Some(ClassificationPlan {
            candidates: NEGATIVE_NEUTRAL_POSITIVE,
            ..classification(Split::Train, Split::Validation, None, SENTIMENT)
        }),
        ..dataset("lince_sa")
    },
];

/// Every dataset miners knows, in the paper's order within each task.
pub fn registry() -> &'static [DatasetSpec] {
    REGISTRY
}

impl DatasetSpec {
    /// Looks a dataset up by name.
    pub fn find(name: &str) -> Result<&'static DatasetSpec, crate::DatasetError> {
        REGISTRY.iter().find(|d| d.name == name).ok_or_else(|| {
            crate::DatasetError::UnknownDataset {
                name: name.to_owned(),
                known: REGISTRY
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
    }

    /// Maps a raw label through the plan's label map, then `option`'s, then
    /// turns underscores into spaces where the plan says so.
    pub fn map_label(&self, raw: &str, option: Option<&LabelOption>) -> String {
        let Some(plan) = self.classification else {
            return raw.to_owned();
        };
        let fold = |label: &str, map: &[(&str, &'static str)]| -> String {
            map.iter()
                .find(|(from, _)| *from == label)
                .map_or(label, |(_, to)| to)
                .to_owned()
        };
        let mut label = fold(raw, plan.label_map);
        if let Some(option) = option {
            label = fold(&label, option.map);
        }
        if plan.underscores_as_spaces {
            label = label.replace('_', " ");
        }
        label
    }

    /// The label option `name` of this dataset.
    pub fn label_option(&self, name: &str) -> Result<&'static LabelOption, crate::DatasetError> {
        let options = self.classification.map_or(&[][..], |c| c.label_options);
        options.iter().find(|o| o.name == name).ok_or_else(|| {
            crate::DatasetError::UnknownLabelOption {
                dataset: self.name.to_owned(),
                option: name.to_owned(),
                known: options
                    .iter()
                    .map(|o| o.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
    }
}
