//! Training of the [`LinearModel`]: logistic regression with AdaGrad and L2, classes weighted to
//! balance, examples shuffled per epoch by a seeded xorshift generator. Pure and deterministic:
//! the same examples and options give the same weights, bit for bit. `average` fits several times
//! with consecutive seeds and averages the weights: the order of the examples moved the top of the
//! score ranking, and with it the calibrated threshold, by several points of recall.

use super::model::{for_each_feature, sigmoid, LinearModel, DIM};

#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub text: String,
    pub lookup: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
    /// Fit this many times, with seeds `seed`, `seed + 1`, …, and average the weights.
    pub average: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 3,
            learning_rate: 0.2,
            l2: 1e-4,
            seed: 42,
            average: 1,
        }
    }
}

/// xorshift64*: small, seedable, and stable across platforms and crate versions.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

fn featurize(text: &str) -> Vec<(u32, f32)> {
    let mut out = Vec::with_capacity(128);
    // Trained on the question a message asks, as requests are scored.
    for_each_feature(&super::text::question_of(text), &mut |f, v| {
        out.push((f.bucket() as u32, v))
    });
    out
}

/// An example's hashed features and its label (1.0 for a lookup), computed once however many fits
/// use it.
type Row = (Vec<(u32, f32)>, f32);

fn featurize_all(examples: &[Example]) -> Vec<Row> {
    examples
        .iter()
        .map(|e| (featurize(&e.text), if e.lookup { 1.0 } else { 0.0 }))
        .collect()
}

/// The model's logit for hashed features: what [`LinearModel::logit`] computes from a text.
fn logit_of(model: &LinearModel, features: &[(u32, f32)]) -> f32 {
    let mut z = model.bias;
    for &(bucket, v) in features {
        z += model.weights[bucket as usize] * v;
    }
    z
}

pub(crate) fn train(examples: &[Example], options: &TrainOptions, name: &str) -> LinearModel {
    let data = featurize_all(examples);
    let all: Vec<usize> = (0..data.len()).collect();
    train_on(&data, &all, options, name)
}

/// [`train`] on the rows of `data` listed in `rows`, in that order.
fn train_on(data: &[Row], rows: &[usize], options: &TrainOptions, name: &str) -> LinearModel {
    let mut model = LinearModel::zeros(name);
    if rows.is_empty() {
        return model;
    }
    // Classes weighted to balance: each class carries half of the total weight.
    let lookups = rows.iter().filter(|&&i| data[i].1 > 0.5).count().max(1) as f32;
    let complexes = (rows.len() as f32 - lookups).max(1.0);
    let n = rows.len() as f32;
    let class_weights = ClassWeights {
        lookup: n / (2.0 * lookups),
        complex: n / (2.0 * complexes),
    };
    let runs = options.average.max(1);
    for run in 0..runs {
        let fit = fit_once(
            data,
            rows,
            class_weights,
            options,
            options.seed.wrapping_add(run as u64),
        );
        for (w, f) in model.weights.iter_mut().zip(&fit.weights) {
            *w += f / runs as f32;
        }
        model.bias += fit.bias / runs as f32;
    }
    model
}

#[derive(Clone, Copy)]
struct ClassWeights {
    lookup: f32,
    complex: f32,
}

/// One fit: `options.epochs` epochs of AdaGrad over the `rows` of `data`, each in an order drawn
/// from `seed`.
fn fit_once(
    data: &[Row],
    rows: &[usize],
    class_weights: ClassWeights,
    options: &TrainOptions,
    seed: u64,
) -> LinearModel {
    let mut model = LinearModel::zeros("fit");
    let class_weight = |y: f32| {
        if y > 0.5 {
            class_weights.lookup
        } else {
            class_weights.complex
        }
    };

    let mut squared = vec![0f32; DIM];
    let mut bias_squared = 0f32;
    let mut order: Vec<usize> = rows.to_vec();
    let mut rng = Rng::new(seed);
    const EPS: f32 = 1e-8;
    for _ in 0..options.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let (features, y) = &data[i];
            let z = logit_of(&model, features);
            let g = (sigmoid(f64::from(z)) as f32 - y) * class_weight(*y);
            for &(bucket, v) in features {
                let b = bucket as usize;
                let grad = g * v + options.l2 * model.weights[b];
                squared[b] += grad * grad;
                model.weights[b] -= options.learning_rate * grad / (squared[b] + EPS).sqrt();
            }
            bias_squared += g * g;
            model.bias -= options.learning_rate * g / (bias_squared + EPS).sqrt();
        }
    }
    model
}

/// Out-of-fold p(lookup) for every example: the rows are dealt into `folds` seeded folds, and each
/// fold is scored by a model trained on the others. Pooled, these scores measure the model on
/// rows it never saw with every row used once, which is far less noisy than one small held-out
/// set when the false-lookup target leaves room for only a handful of mistakes. Each example is
/// featurized once for all the folds.
pub(crate) fn cross_validate(examples: &[Example], options: &TrainOptions, folds: usize) -> Vec<f64> {
    let folds = folds.clamp(2, examples.len().max(2));
    let mut order: Vec<usize> = (0..examples.len()).collect();
    Rng::new(options.seed ^ 0xf01d).shuffle(&mut order);
    let mut fold_of = vec![0; examples.len()];
    for (position, &i) in order.iter().enumerate() {
        fold_of[i] = position % folds;
    }
    let data = featurize_all(examples);
    let mut scores = vec![0.0; examples.len()];
    for fold in 0..folds {
        let (held, fit): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|&i| fold_of[i] == fold);
        let model = train_on(&data, &fit, options, "fold");
        for i in held {
            scores[i] = sigmoid(f64::from(logit_of(&model, &data[i].0)));
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Example> {
        let lookups = [
            "what is the capital of peru",
            "who wrote hamlet",
            "when was oxygen discovered",
            "capital of chile",
            "who painted the mona lisa",
            "what is the population of france",
        ];
        let complexes = [
            "write a poem about the sea",
            "explain how tcp works in detail",
            "write a python function to sort a list",
            "compare peru and chile as destinations",
            "help me plan a trip",
            "summarize this article for me",
        ];
        lookups
            .iter()
            .map(|t| Example {
                text: t.to_string(),
                lookup: true,
            })
            .chain(complexes.iter().map(|t| Example {
                text: t.to_string(),
                lookup: false,
            }))
            .collect()
    }

    #[test]
    fn learns_to_separate_the_classes() {
        let model = train(&examples(), &TrainOptions::default(), "t");
        for e in examples() {
            let p = model.p_lookup(&e.text);
            assert_eq!(p >= 0.5, e.lookup, "{}: {p}", e.text);
        }
        assert!(model.p_lookup("who wrote the odyssey") > model.p_lookup("write a story about the odyssey"));
    }

    #[test]
    fn cross_validation_scores_each_row_with_a_model_that_never_saw_it() {
        // Every row but one says "alpha" is a lookup; the odd row out is labelled complex. A model
        // that had seen that row could not score it far below the others; one that had not must
        // score it like its look-alikes.
        let mut rows: Vec<Example> = (0..20)
            .map(|i| Example {
                text: format!("alpha {i}"),
                lookup: true,
            })
            .collect();
        rows.extend((0..20).map(|i| Example {
            text: format!("beta {i}"),
            lookup: false,
        }));
        let options = TrainOptions::default();
        let scores = cross_validate(&rows, &options, 5);
        assert_eq!(scores.len(), rows.len());
        assert!(rows.iter().zip(&scores).all(|(e, &p)| (p >= 0.5) == e.lookup));
        assert_eq!(scores, cross_validate(&rows, &options, 5), "seeded folds");
        let mut relabelled = rows.clone();
        relabelled[0].lookup = false;
        let scores = cross_validate(&relabelled, &options, 20);
        assert!(
            scores[0] > 0.5,
            "row 0 was scored by a model trained on it: {}",
            scores[0]
        );
    }

    #[test]
    fn averaging_gives_the_mean_of_the_seeded_fits() {
        let single = |seed| {
            train(
                &examples(),
                &TrainOptions {
                    seed,
                    ..TrainOptions::default()
                },
                "t",
            )
        };
        let (a, b) = (single(7), single(8));
        let averaged = train(
            &examples(),
            &TrainOptions {
                seed: 7,
                average: 2,
                ..TrainOptions::default()
            },
            "t",
        );
        assert_ne!(
            a.weights, b.weights,
            "the seeds must give different fits for this to test anything"
        );
        for ((x, y), m) in a.weights.iter().zip(&b.weights).zip(&averaged.weights) {
            assert!((m - (x / 2.0 + y / 2.0)).abs() < 1e-6);
        }
        assert!((averaged.bias - (a.bias / 2.0 + b.bias / 2.0)).abs() < 1e-6);
    }

    #[test]
    fn training_is_reproducible_and_depends_on_the_seed() {
        let a = train(&examples(), &TrainOptions::default(), "t");
        let b = train(&examples(), &TrainOptions::default(), "t");
        assert_eq!(a, b);
        let c = train(
            &examples(),
            &TrainOptions {
                seed: 7,
                ..TrainOptions::default()
            },
            "t",
        );
        assert_ne!(a.weights, c.weights);
    }
}
