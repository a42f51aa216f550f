//! Exact k-NN (10,000 × 10,000, k = 10) against the GEMM it is built on, and
//! the same search corrected by CSLS (two passes: both neighbourhoods, then the ranking) against it.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use miners_benches::{gemm, random_matrix};
use miners_core::Metric;
use miners_index::{ExactIndex, Hubness, HubnessScorer, MetricScorer, SearchOptions, search};

const N: usize = 10_000;
const K: usize = 10;

fn knn(c: &mut Criterion) {
    let mut group = c.benchmark_group("exact_knn_10k");
    group.sample_size(10);
    for dim in [384, 768] {
        let queries = random_matrix(N, dim, 1);
        let candidates = random_matrix(N, dim, 2);
        group.throughput(Throughput::Elements((N * N * dim * 2) as u64));
        let index = ExactIndex::new(candidates.clone(), Metric::Euclidean);
        group.bench_function(format!("search_l2_dim{dim}"), |b| {
            b.iter(|| index.search(&queries, K).unwrap())
        });
        group.bench_function(format!("search_l2_csls10_dim{dim}"), |b| {
            b.iter(|| {
                let options = SearchOptions::default();
                let forward = MetricScorer::new(&queries, &candidates, Metric::Euclidean).unwrap();
                let backward = MetricScorer::new(&candidates, &queries, Metric::Euclidean).unwrap();
                let csls = Hubness::Csls { k: 10 };
                let corrected = HubnessScorer::new(&forward, &backward, csls, options).unwrap();
                search(&corrected, K, options).unwrap()
            })
        });
        let mut out = vec![0f32; N * N];
        group.bench_function(format!("faer_gemm_dim{dim}"), |b| {
            b.iter(|| gemm(&queries, &candidates, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, knn);
criterion_main!(benches);
