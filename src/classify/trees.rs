//! Gradient-boosted regression trees on named features, pure: fitted on the log loss on top of a
//! base margin (the reader's logistic regression), so the trees learn only what the linear model
//! misses: interactions such as "a definition from this source, for this kind of subject, in this
//! sentence". Depth-wise trees over binned features, Newton leaf values, row and feature
//! subsampling from a seed, so the same examples give the same trees.
//!
//! Written here rather than taken from a crate: the fit is about 200 lines, the maintained Rust
//! crates for boosting either bind C++ (LightGBM, XGBoost: a C++ toolchain and minutes of build in
//! CI) or have had no release for years, and the model has to be read from the same JSON file as
//! the weights it sits on.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::train::Rng;

/// One node: a split sends a value at or below `t` left, above it right; a missing feature is 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum Node {
    Split { f: u32, t: f64, l: u32, r: u32 },
    Leaf { v: f64 },
}

/// The trees and the feature names their splits refer to, by position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Trees {
    pub features: Vec<String>,
    pub trees: Vec<Vec<Node>>,
    /// Feature name to position, built on first use.
    #[serde(skip)]
    index: OnceLock<HashMap<String, usize>>,
}

/// How the trees are fitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub trees: usize,
    pub depth: usize,
    pub rate: f64,
    /// L2 shrinkage of the leaf values.
    pub lambda: f64,
    /// A split must leave at least this many rows on each side.
    pub min_rows: usize,
    /// Share of the rows, and of the features, each tree sees.
    pub row_sample: f64,
    pub feature_sample: f64,
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            trees: 500,
            depth: 6,
            rate: 0.05,
            lambda: 1.0,
            min_rows: 20,
            row_sample: 0.8,
            feature_sample: 0.8,
            seed: 42,
        }
    }
}

/// Most cut points per feature: enough for the reader's scores in [0, 1], few enough that a
/// node's histogram stays small.
const MAX_BINS: usize = 32;

impl Trees {
    pub(crate) fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// The sum of the trees' outputs for one example, to add to the base margin.
    pub(crate) fn margin(&self, features: &[(String, f64)]) -> f64 {
        if self.trees.is_empty() {
            return 0.0;
        }
        let index = self
            .index
            .get_or_init(|| self.features.iter().enumerate().map(|(i, f)| (f.clone(), i)).collect());
        let mut x = vec![0.0; self.features.len()];
        for (name, value) in features {
            if let Some(&i) = index.get(name) {
                x[i] = *value;
            }
        }
        self.trees
            .iter()
            .map(|tree| walk(tree, |f| x.get(f).copied().unwrap_or(0.0)))
            .sum()
    }
}

/// Walks one tree to its leaf; `x` gives a feature's value by position.
fn walk(tree: &[Node], x: impl Fn(usize) -> f64) -> f64 {
    let mut at = 0usize;
    // A tree read from a file could point anywhere: a bad index or a loop ends the walk at 0
    // rather than panicking or spinning.
    for _ in 0..tree.len() {
        match tree.get(at) {
            Some(Node::Leaf { v }) => return *v,
            Some(&Node::Split { f, t, l, r }) => at = if x(f as usize) <= t { l as usize } else { r as usize },
            None => return 0.0,
        }
    }
    0.0
}

/// One feature's cut points: a value goes to the first bin whose upper edge is at or above it.
struct Bins {
    edges: Vec<f64>,
}

impl Bins {
    fn of(mut values: Vec<f64>) -> Bins {
        values.sort_by(f64::total_cmp);
        values.dedup();
        let edges = if values.len() <= MAX_BINS {
            values
        } else {
            let mut edges: Vec<f64> = (1..=MAX_BINS)
                .map(|k| values[(k * values.len()) / MAX_BINS - 1])
                .collect();
            edges.dedup();
            edges
        };
        Bins { edges }
    }

    fn bin(&self, x: f64) -> usize {
        self.edges
            .partition_point(|&e| e < x)
            .min(self.edges.len().saturating_sub(1))
    }
}

/// Fits trees to rows of (feature position, value) with labels, on top of `base` (each row's
/// margin before the trees). `names` gives each position's feature name for the model file.
pub(crate) fn fit(
    names: &[String],
    rows: &[Vec<(usize, f64)>],
    labels: &[bool],
    base: &[f64],
    params: &Params,
) -> Trees {
    let n_features = names.len();
    // Every feature's values, with the zero that a row without it has.
    let mut values: Vec<Vec<f64>> = vec![vec![0.0]; n_features];
    for row in rows {
        for &(j, x) in row {
            values[j].push(x);
        }
    }
    let bins: Vec<Bins> = values.into_iter().map(Bins::of).collect();
    let zero_bin: Vec<usize> = bins.iter().map(|b| b.bin(0.0)).collect();
    let binned: Vec<Vec<(usize, usize)>> = rows
        .iter()
        .map(|row| row.iter().map(|&(j, x)| (j, bins[j].bin(x))).collect())
        .collect();
    let mut margin = base.to_vec();
    let mut rng = Rng::new(params.seed);
    let mut trees = Vec::with_capacity(params.trees);
    let sample = |rng: &mut Rng, share: f64| rng.next_u64() as f64 / u64::MAX as f64 <= share;
    for _ in 0..params.trees {
        let (grad, hess): (Vec<f64>, Vec<f64>) = margin
            .iter()
            .zip(labels)
            .map(|(&z, &y)| {
                let p = super::model::sigmoid(z);
                (p - f64::from(u8::from(y)), (p * (1.0 - p)).max(1e-12))
            })
            .unzip();
        let picked: Vec<usize> = (0..rows.len())
            .filter(|_| sample(&mut rng, params.row_sample))
            .collect();
        let allowed: Vec<bool> = (0..n_features)
            .map(|_| sample(&mut rng, params.feature_sample))
            .collect();
        let grower = Grower {
            binned: &binned,
            bins: &bins,
            zero_bin: &zero_bin,
            grad: &grad,
            hess: &hess,
            allowed: &allowed,
            params,
        };
        let mut tree = Vec::new();
        grower.grow(&mut tree, picked, 0);
        for (i, row) in rows.iter().enumerate() {
            margin[i] += walk(&tree, |f| row.iter().find(|&&(j, _)| j == f).map_or(0.0, |&(_, x)| x));
        }
        trees.push(tree);
    }
    Trees {
        features: names.to_vec(),
        trees,
        index: OnceLock::new(),
    }
}

struct Grower<'a> {
    binned: &'a [Vec<(usize, usize)>],
    bins: &'a [Bins],
    zero_bin: &'a [usize],
    grad: &'a [f64],
    hess: &'a [f64],
    allowed: &'a [bool],
    params: &'a Params,
}

/// Gradient, hessian and row count summed over a set of rows.
#[derive(Clone, Copy, Default)]
struct Sum {
    g: f64,
    h: f64,
    n: usize,
}

impl Sum {
    fn add(&mut self, g: f64, h: f64, n: usize) {
        self.g += g;
        self.h += h;
        self.n += n;
    }

    fn score(&self, lambda: f64) -> f64 {
        self.g * self.g / (self.h + lambda)
    }
}

impl Grower<'_> {
    /// Appends the subtree over `rows` to `tree` and returns its root's position.
    fn grow(&self, tree: &mut Vec<Node>, rows: Vec<usize>, depth: usize) -> u32 {
        let mut total = Sum::default();
        for &i in &rows {
            total.add(self.grad[i], self.hess[i], 1);
        }
        let at = tree.len() as u32;
        // Rounded to six decimals: the model file is read by people and kept in git, and the
        // digits beyond change no probability that matters.
        let v = -self.params.rate * total.g / (total.h + self.params.lambda);
        let leaf = Node::Leaf {
            v: (v * 1e6).round() / 1e6,
        };
        tree.push(leaf);
        if depth >= self.params.depth || rows.len() < 2 * self.params.min_rows {
            return at;
        }
        let Some((feature, bin)) = self.best_split(&rows, total) else {
            return at;
        };
        let goes_left = |i: usize| {
            let b = self.binned[i]
                .iter()
                .find(|&&(j, _)| j == feature)
                .map_or(self.zero_bin[feature], |&(_, b)| b);
            b <= bin
        };
        let (left, right): (Vec<usize>, Vec<usize>) = rows.into_iter().partition(|&i| goes_left(i));
        let l = self.grow(tree, left, depth + 1);
        let r = self.grow(tree, right, depth + 1);
        tree[at as usize] = Node::Split {
            f: feature as u32,
            t: self.bins[feature].edges[bin],
            l,
            r,
        };
        at
    }

    /// The feature and bin (left takes bins up to it) with the largest gain, if any gains.
    fn best_split(&self, rows: &[usize], total: Sum) -> Option<(usize, usize)> {
        // Histograms of the rows that have the feature; the rest sit in its zero bin.
        let mut hist: HashMap<usize, Vec<Sum>> = HashMap::new();
        for &i in rows {
            for &(j, b) in &self.binned[i] {
                if self.allowed[j] {
                    hist.entry(j)
                        .or_insert_with(|| vec![Sum::default(); self.bins[j].edges.len()])[b]
                        .add(self.grad[i], self.hess[i], 1);
                }
            }
        }
        let lambda = self.params.lambda;
        let parent = total.score(lambda);
        let mut best: Option<(f64, usize, usize)> = None;
        let mut features: Vec<usize> = hist.keys().copied().collect();
        features.sort_unstable();
        for j in features {
            let Some(h) = hist.get_mut(&j) else { continue };
            let present = h.iter().fold(Sum::default(), |mut s, x| {
                s.add(x.g, x.h, x.n);
                s
            });
            h[self.zero_bin[j]].add(total.g - present.g, total.h - present.h, total.n - present.n);
            let mut left = Sum::default();
            for (b, s) in h.iter().enumerate().take(h.len().saturating_sub(1)) {
                left.add(s.g, s.h, s.n);
                let right = Sum {
                    g: total.g - left.g,
                    h: total.h - left.h,
                    n: total.n - left.n,
                };
                if left.n < self.params.min_rows || right.n < self.params.min_rows {
                    continue;
                }
                let gain = left.score(lambda) + right.score(lambda) - parent;
                if gain > 1e-9 && best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, j, b));
                }
            }
        }
        best.map(|(_, j, b)| (j, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i}")).collect()
    }

    #[test]
    fn trees_learn_an_interaction_a_linear_model_cannot() {
        // XOR of two binary features: no weights on a and b separate it, two splits do.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for k in 0..400 {
            let (a, b) = (k % 2 == 0, (k / 2) % 2 == 0);
            let mut row = Vec::new();
            if a {
                row.push((0, 1.0));
            }
            if b {
                row.push((1, 1.0));
            }
            rows.push(row);
            labels.push(a != b);
        }
        let base = vec![0.0; rows.len()];
        let params = Params {
            trees: 100,
            rate: 0.3,
            ..Params::default()
        };
        let trees = fit(&names(2), &rows, &labels, &base, &params);
        let p = |f: &[(String, f64)]| super::super::model::sigmoid(trees.margin(f));
        let a = ("f0".to_string(), 1.0);
        let b = ("f1".to_string(), 1.0);
        assert!(
            p(std::slice::from_ref(&a)) > 0.9 && p(std::slice::from_ref(&b)) > 0.9,
            "one of the two"
        );
        assert!(p(&[]) < 0.1 && p(&[a, b]) < 0.1, "none or both");
    }

    #[test]
    fn a_threshold_on_a_score_is_found() {
        let rows: Vec<Vec<(usize, f64)>> = (0..200).map(|k| vec![(0, k as f64 / 200.0)]).collect();
        let labels: Vec<bool> = (0..200).map(|k| k >= 120).collect();
        let trees = fit(
            &names(1),
            &rows,
            &labels,
            &vec![0.0; 200],
            &Params {
                trees: 60,
                rate: 0.3,
                ..Params::default()
            },
        );
        let p = |x: f64| super::super::model::sigmoid(trees.margin(&[("f0".to_string(), x)]));
        assert!(p(0.2) < 0.2 && p(0.9) > 0.8, "{} {}", p(0.2), p(0.9));
    }

    #[test]
    fn the_model_survives_json_and_a_broken_tree_does_not_panic() {
        let rows: Vec<Vec<(usize, f64)>> = (0..100).map(|k| vec![(0, f64::from(k % 2 == 0))]).collect();
        let labels: Vec<bool> = (0..100).map(|k| k % 2 == 0).collect();
        let trees = fit(
            &names(1),
            &rows,
            &labels,
            &vec![0.0; 100],
            &Params {
                trees: 5,
                ..Params::default()
            },
        );
        let back: Trees = serde_json::from_str(&serde_json::to_string(&trees).expect("serializes")).expect("parses");
        let x = [("f0".to_string(), 1.0)];
        assert_eq!(back.margin(&x), trees.margin(&x));
        assert!(trees.margin(&x) > 0.0);
        let looped = Trees {
            features: names(1),
            trees: vec![vec![Node::Split {
                f: 7,
                t: 0.0,
                l: 0,
                r: 9,
            }]],
            index: OnceLock::new(),
        };
        assert_eq!(looped.margin(&x), 0.0);
    }
}
