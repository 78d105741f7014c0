//! Loads the clinical content the service judges intakes with: the embedded questionnaires and
//! rule set, or the clinic's own from the configured directory and file. This is the I/O side of
//! the pure [`crate::triage`] module.

use std::path::Path;

use anyhow::Context;

use crate::triage::{QuestionnaireSet, RuleSet, Triage};

/// The questionnaires (embedded, plus `*.json` files of `questionnaire_dir`) and the rule set
/// (embedded, or `rules_file`), checked against each other.
pub fn load(questionnaire_dir: Option<&Path>, rules_file: Option<&Path>) -> anyhow::Result<Triage> {
    let mut questionnaires = QuestionnaireSet::embedded()?;
    if let Some(dir) = questionnaire_dir {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("cannot read LUMBAR_QUESTIONNAIRE_DIR {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                files.push((name, text));
            }
        }
        // Sorted, so the order (and any error) is the same on every machine.
        files.sort();
        questionnaires = questionnaires.with_files(files)?;
    }
    let rules = match rules_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read LUMBAR_RULES_FILE {}", path.display()))?;
            RuleSet::parse(&path.display().to_string(), &text)?
        }
        None => RuleSet::embedded()?,
    };
    Ok(Triage::new(questionnaires, rules)?)
}
