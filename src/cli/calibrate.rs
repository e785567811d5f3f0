//! `calibrate`: the `lookup_threshold` with the most lookups under a false-lookup target.

use super::error::CliError;
use super::*;

pub(super) fn calibrate_command(
    config_path: &Path,
    input: &Path,
    max_false_lookup: f64,
    bound: FalseLookupBound,
) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let rows = read_labelled(input)?;
    let scored: Vec<Scored> = rows
        .iter()
        .zip(decide_labelled(&classifier, &rows))
        .map(|(row, d)| match d.decider {
            Decider::Classifier { p_lookup, .. } => Scored {
                fixed: None,
                p_lookup,
                gold_lookup: row.is_lookup(),
            },
            _ => Scored {
                fixed: Some(d.route == crate::classify::Route::Search),
                p_lookup: 0.0,
                gold_lookup: row.is_lookup(),
            },
        })
        .collect();
    match calibrate_against(&scored, max_false_lookup, bound) {
        Some(c) => {
            outln!(
                "{} queries: at threshold {:.3} the false-lookup rate is {} (target {}{}), lookup recall {}, {} routed to search",
                rows.len(),
                c.threshold,
                describe_false_lookups(&c.confusion),
                pct(Some(max_false_lookup)),
                match bound {
                    FalseLookupBound::Observed => "",
                    FalseLookupBound::Upper95 => ", held against the 95% upper bound",
                },
                pct(c.confusion.lookup_recall()),
                pct(c.confusion.kept_off_llm())
            );
            let rounded_up = (c.threshold * 1000.0).ceil() / 1000.0;
            outln!(
                "\nset in {}:\n[classifier]\nlookup_threshold = {rounded_up:.3}",
                config_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no threshold meets a false-lookup rate of {max_false_lookup}: rules that route to search already exceed it");
            Ok(ExitCode::FAILURE)
        }
    }
}
