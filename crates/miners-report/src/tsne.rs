//! Exact t-SNE (van der Maaten & Hinton, 2008) for the paper's embedding
//! scatter plots: O(n²) per iteration, meant for up to a few thousand points.

/// t-SNE settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneOptions {
    /// Effective number of neighbours.
    pub perplexity: f64,
    /// Gradient-descent iterations.
    pub iterations: usize,
    /// Step size; `None`: scikit-learn's `auto`, `max(n / 48, 50)`.
    pub learning_rate: Option<f64>,
    /// Seed of the initial layout.
    pub seed: u64,
}

impl Default for TsneOptions {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            learning_rate: None,
            seed: 42,
        }
    }
}

const EXAGGERATION: f64 = 12.0;
const EXAGGERATION_ITERATIONS: usize = 250;

/// Embeds `n` row vectors of width `dim` (row-major `data`) in two dimensions.
pub fn tsne(data: &[f32], dim: usize, options: &TsneOptions) -> Vec<[f64; 2]> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    if n < 2 {
        return vec![[0.0, 0.0]; n];
    }
    let p = affinities(&squared_distances(data, dim, n), n, options.perplexity);
    let learning_rate = options
        .learning_rate
        .unwrap_or_else(|| (n as f64 / EXAGGERATION / 4.0).max(50.0));
    let mut y = initial_layout(n, options.seed);
    let mut velocity = vec![[0.0; 2]; n];
    let mut gains = vec![[1.0; 2]; n];
    let mut num = vec![0.0; n * n];
    for iteration in 0..options.iterations {
        let exaggeration = if iteration < EXAGGERATION_ITERATIONS {
            EXAGGERATION
        } else {
            1.0
        };
        let momentum = if iteration < EXAGGERATION_ITERATIONS {
            0.5
        } else {
            0.8
        };
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..n {
                let value = if i == j {
                    0.0
                } else {
                    let dx = y[i][0] - y[j][0];
                    let dy = y[i][1] - y[j][1];
                    1.0 / (1.0 + dx * dx + dy * dy)
                };
                num[i * n + j] = value;
                total += value;
            }
        }
        for i in 0..n {
            let mut gradient = [0.0; 2];
            for j in 0..n {
                let q = num[i * n + j] / total;
                let force = 4.0 * (exaggeration * p[i * n + j] - q) * num[i * n + j];
                gradient[0] += force * (y[i][0] - y[j][0]);
                gradient[1] += force * (y[i][1] - y[j][1]);
            }
            for d in 0..2 {
                let same_sign = (gradient[d] > 0.0) == (velocity[i][d] > 0.0);
                gains[i][d] = if same_sign {
                    gains[i][d] * 0.8
                } else {
                    gains[i][d] + 0.2
                };
                gains[i][d] = f64::max(gains[i][d], 0.01);
                velocity[i][d] =
                    momentum * velocity[i][d] - learning_rate * gains[i][d] * gradient[d];
            }
        }
        for (point, v) in y.iter_mut().zip(&velocity) {
            point[0] += v[0];
            point[1] += v[1];
        }
        center(&mut y);
    }
    y
}

fn squared_distances(data: &[f32], dim: usize, n: usize) -> Vec<f64> {
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let a = &data[i * dim..(i + 1) * dim];
            let b = &data[j * dim..(j + 1) * dim];
            let s: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
            d[i * n + j] = s;
            d[j * n + i] = s;
        }
    }
    d
}

/// Symmetric joint probabilities whose conditionals match `perplexity`.
fn affinities(distances: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let target = perplexity.min((n - 1) as f64 / 3.0).max(1.0).ln();
    let mut p = vec![0.0; n * n];
    for i in 0..n {
        let row = &distances[i * n..(i + 1) * n];
        let (mut beta, mut low, mut high) = (1.0, 0.0, f64::INFINITY);
        let scale = row.iter().copied().fold(0.0, f64::max).max(1e-12);
        for _ in 0..64 {
            let (entropy, _) = conditional(row, i, beta / scale, &mut p[i * n..(i + 1) * n]);
            if (entropy - target).abs() < 1e-5 {
                break;
            }
            if entropy > target {
                low = beta;
                beta = if high.is_finite() {
                    (beta + high) / 2.0
                } else {
                    beta * 2.0
                };
            } else {
                high = beta;
                beta = (beta + low) / 2.0;
            }
        }
    }
    let mut joint = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    joint
}

/// Fills `out` with p(j|i) for precision `beta`; returns (entropy, sum).
fn conditional(row: &[f64], i: usize, beta: f64, out: &mut [f64]) -> (f64, f64) {
    let mut sum = 0.0;
    for (j, (&d, o)) in row.iter().zip(out.iter_mut()).enumerate() {
        *o = if j == i { 0.0 } else { (-d * beta).exp() };
        sum += *o;
    }
    let sum = sum.max(1e-300);
    let mut entropy = 0.0;
    for (j, o) in out.iter_mut().enumerate() {
        *o /= sum;
        if j != i && *o > 0.0 {
            entropy -= *o * o.ln();
        }
    }
    (entropy, sum)
}

/// Small Gaussian noise from a seeded xorshift generator.
fn initial_layout(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform().max(1e-12), uniform());
            let r = (-2.0 * u.ln()).sqrt() * 1e-2;
            let angle = 2.0 * std::f64::consts::PI * v;
            [r * angle.cos(), r * angle.sin()]
        })
        .collect()
}

fn center(y: &mut [[f64; 2]]) {
    let n = y.len() as f64;
    let mean = y
        .iter()
        .fold([0.0; 2], |m, p| [m[0] + p[0] / n, m[1] + p[1] / n]);
    for p in y.iter_mut() {
        p[0] -= mean[0];
        p[1] -= mean[1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_stay_separated() {
        // Two tight clusters far apart in 5-D.
        let mut data = Vec::new();
        for i in 0..40 {
            let offset = if i < 20 { 0.0 } else { 50.0 };
            for d in 0..5 {
                data.push(offset + ((i * 7 + d * 3) % 11) as f32 * 0.1);
            }
        }
        let options = TsneOptions {
            perplexity: 5.0,
            iterations: 1000,
            ..TsneOptions::default()
        };
        let y = tsne(&data, 5, &options);
        // Each point's nearest neighbour in the layout is from its own cluster.
        let cluster = |i: usize| i / 20;
        let pure = (0..40)
            .filter(|&i| {
                let nearest = (0..40)
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| {
                        let d =
                            |j: usize| (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2);
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                cluster(nearest) == cluster(i)
            })
            .count();
        assert_eq!(pure, 40, "{y:?}");
        assert_eq!(y, tsne(&data, 5, &options), "deterministic");
    }
}
