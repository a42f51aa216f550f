//! Exact k-NN (10,000 × 10,000, k = 10) against the GEMM it is built on.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use miners_benches::{gemm, random_matrix};
use miners_core::Metric;
use miners_index::ExactIndex;

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
        let mut out = vec![0f32; N * N];
        group.bench_function(format!("faer_gemm_dim{dim}"), |b| {
            b.iter(|| gemm(&queries, &candidates, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, knn);
criterion_main!(benches);
