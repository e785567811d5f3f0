//! RouteLLM's measures of a strong/cheap model router, pure, computed exactly as
//! `../shared/data/routing/routing_metrics.py` computes them (a test pins one set's figures to
//! that script's): the top-k share of prompts by router score goes to the strong model, k swept
//! over 101 steps; PGR(k) = (quality(k) − cheap only) / (strong only − cheap only); APGR is the
//! area under PGR; CPT(x) the smallest strong share whose PGR reaches x; cheap@q the largest
//! share left on the cheap model while quality stays at q × strong-only quality.

/// One prompt's outcome: both models' quality scores and the router's score (higher = more
/// likely to need the strong model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    pub strong: f64,
    pub weak: f64,
    pub score: f64,
}

/// One step of the sweep: the share sent to the strong model, the quality and the PGR.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    pub strong_share: f64,
    pub quality: f64,
    pub pgr: f64,
}

/// A set's figures for one router.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    pub n: usize,
    pub weak_only: f64,
    pub strong_only: f64,
    pub apgr: f64,
    pub cpt50: f64,
    pub cpt80: f64,
    /// Share left on the cheap model at the quality ratio asked for.
    pub cheap_at_quality: f64,
}

const STEPS: usize = 100;

/// Python's `round`: halves to even, so the sweep's k are the script's.
fn round_half_even(x: f64) -> usize {
    let r = x.round();
    let k = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    };
    k.max(0.0) as usize
}

/// The sweep: quality and PGR at 101 strong shares. Ties in score keep the rows' order, as
/// Python's stable sort does.
fn curve(rows: &[Outcome]) -> (f64, f64, Vec<Point>) {
    let n = rows.len().max(1) as f64;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[b].score.total_cmp(&rows[a].score));
    let weak: f64 = rows.iter().map(|r| r.weak).sum::<f64>() / n;
    let strong: f64 = rows.iter().map(|r| r.strong).sum::<f64>() / n;
    // Quality with the top k strong, for every k, by one running sum.
    let mut gain = vec![0.0; rows.len() + 1];
    for (k, &i) in order.iter().enumerate() {
        gain[k + 1] = gain[k] + rows[i].strong - rows[i].weak;
    }
    let points = (0..=STEPS)
        .map(|j| {
            let k = round_half_even(j as f64 * rows.len() as f64 / STEPS as f64).min(rows.len());
            let quality = weak + gain[k] / n;
            Point {
                strong_share: k as f64 / n,
                quality,
                pgr: if strong != weak {
                    (quality - weak) / (strong - weak)
                } else {
                    f64::NAN
                },
            }
        })
        .collect();
    (weak, strong, points)
}

fn apgr(points: &[Point]) -> f64 {
    points
        .windows(2)
        .map(|p| (p[1].strong_share - p[0].strong_share) * (p[0].pgr + p[1].pgr) / 2.0)
        .sum()
}

fn cpt(points: &[Point], target: f64) -> f64 {
    points.iter().find(|p| p.pgr >= target).map_or(1.0, |p| p.strong_share)
}

fn cheap_share_at_quality(points: &[Point], strong_only: f64, ratio: f64) -> f64 {
    points
        .iter()
        .find(|p| p.quality >= ratio * strong_only)
        .map_or(0.0, |p| 1.0 - p.strong_share)
}

pub(crate) fn figures(rows: &[Outcome], quality_ratio: f64) -> Figures {
    let (weak_only, strong_only, points) = curve(rows);
    Figures {
        n: rows.len(),
        weak_only,
        strong_only,
        apgr: apgr(&points),
        cpt50: cpt(&points, 0.5),
        cpt80: cpt(&points, 0.8),
        cheap_at_quality: cheap_share_at_quality(&points, strong_only, quality_ratio),
    }
}

/// What a threshold on the router's score does to a set: requests scored at or under it go to
/// the cheap model. Returns (quality / strong-only quality, share on the cheap model).
pub(crate) fn at_threshold(rows: &[Outcome], threshold: f64) -> (f64, f64) {
    let n = rows.len().max(1) as f64;
    let strong: f64 = rows.iter().map(|r| r.strong).sum::<f64>() / n;
    let (mut quality, mut cheap) = (0.0, 0usize);
    for r in rows {
        if r.score <= threshold {
            quality += r.weak;
            cheap += 1;
        } else {
            quality += r.strong;
        }
    }
    let ratio = if strong > 0.0 { quality / n / strong } else { 1.0 };
    (ratio, cheap as f64 / n)
}

/// The highest threshold (one of the rows' scores, or 0 when none will do) at which the set
/// keeps `ratio` of the strong model's quality: the most requests on the cheap model for that
/// quality. A threshold is only taken if every lower row score also keeps the ratio, so a lucky
/// spike in the curve is not chosen.
pub(crate) fn threshold_for_quality(rows: &[Outcome], ratio: f64) -> f64 {
    let n = rows.len().max(1) as f64;
    let strong: f64 = rows.iter().map(|r| r.strong).sum::<f64>() / n;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[a].score.total_cmp(&rows[b].score));
    // Start with everything on the strong model and move rows to the cheap one in score order.
    let mut quality = strong * n;
    let mut best = 0.0;
    let mut k = 0;
    while k < order.len() {
        // All rows of one score move together: a threshold cannot split them.
        let score = rows[order[k]].score;
        while k < order.len() && rows[order[k]].score == score {
            let r = rows[order[k]];
            quality += r.weak - r.strong;
            k += 1;
        }
        if quality / n >= ratio * strong {
            best = score;
        } else {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(data: &[(f64, f64, f64)]) -> Vec<Outcome> {
        data.iter()
            .map(|&(strong, weak, score)| Outcome { strong, weak, score })
            .collect()
    }

    #[test]
    fn python_rounds_halves_to_even() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(2.6), 3);
    }

    #[test]
    fn the_oracle_beats_random_and_the_inverse_oracle_is_worst() {
        // Strong right on 4 of 10, weak right on 2 (both on the same two).
        let data: Vec<(f64, f64)> = (0..10)
            .map(|i| match i {
                0 | 1 => (1.0, 1.0),
                2 | 3 => (1.0, 0.0),
                _ => (0.0, 0.0),
            })
            .collect();
        let score = |f: &dyn Fn(f64, f64) -> f64| -> Vec<Outcome> {
            data.iter()
                .map(|&(s, w)| Outcome {
                    strong: s,
                    weak: w,
                    score: f(s, w),
                })
                .collect()
        };
        let oracle = figures(&score(&|s, w| s - w), 0.95);
        let inverse = figures(&score(&|s, w| w - s), 0.95);
        assert!(oracle.apgr > 0.85 && inverse.apgr < 0.3, "{oracle:?} {inverse:?}");
        assert_eq!(oracle.cpt50, 0.1);
        assert_eq!(oracle.cheap_at_quality, 0.8);
        // A threshold at the top easy score keeps all of the quality with 8 of 10 cheap.
        let t = threshold_for_quality(&score(&|s, w| s - w), 1.0);
        assert_eq!(t, 0.0);
        assert_eq!(at_threshold(&score(&|s, w| s - w), t), (1.0, 0.8));
    }

    #[test]
    fn no_threshold_will_do_when_the_cheap_model_fails_the_first_row() {
        let r = rows(&[(1.0, 0.0, 0.1), (1.0, 1.0, 0.9)]);
        assert_eq!(threshold_for_quality(&r, 0.95), 0.0);
        assert_eq!(at_threshold(&r, 0.0), (1.0, 0.0));
    }

    /// The figures `routing_metrics.py` gives for the same rows (ties in score included, 37 rows so
    /// the sweep's k fall on halves): `python3 -c "import sys; sys.path.insert(0,
    /// '../shared/data/routing'); from routing_metrics import report; n=37;
    /// print(report('x', [1 if (i*7)%5<3 else 0 for i in range(n)], [1 if (i*3)%4<2 else 0 for i in
    /// range(n)], [((i*13)%17)/17 for i in range(n)]))"`.
    #[test]
    fn the_figures_are_routing_metrics_py_s() {
        let r: Vec<Outcome> = (0..37u32)
            .map(|i| Outcome {
                strong: f64::from(u8::from((i * 7) % 5 < 3)),
                weak: f64::from(u8::from((i * 3) % 4 < 2)),
                score: f64::from((i * 13) % 17) / 17.0,
            })
            .collect();
        let f = figures(&r, 0.95);
        let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
        assert_eq!((round(f.weak_only, 4), round(f.strong_only, 4)), (0.5135, 0.6216));
        assert_eq!(
            (
                round(f.apgr, 3),
                round(f.cpt50, 3),
                round(f.cpt80, 3),
                round(f.cheap_at_quality, 3)
            ),
            (1.095, 0.054, 0.135, 0.892)
        );
    }

    proptest! {
        #[test]
        fn pgr_runs_from_zero_to_one(data in prop::collection::vec((0u8..2, 0u8..2, 0.0f64..1.0), 2..60)) {
            let r: Vec<Outcome> = data.iter().map(|&(s, w, score)| Outcome { strong: s.into(), weak: w.into(), score }).collect();
            let (weak, strong, points) = curve(&r);
            prop_assert_eq!(points.len(), STEPS + 1);
            prop_assert!((points[0].quality - weak).abs() < 1e-9);
            prop_assert!((points[STEPS].quality - strong).abs() < 1e-9);
            let t = threshold_for_quality(&r, 0.9);
            let (q, _) = at_threshold(&r, t);
            prop_assert!(t == 0.0 || q >= 0.9 - 1e-9, "{} at {}", q, t);
        }
    }
}
