use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use crate::CoreError;

/// A row-major `f32` matrix with one embedding per row; every value is finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings(Array2<f32>);

impl Embeddings {
    /// Wraps a matrix after checking that every value is finite.
    pub fn new(matrix: Array2<f32>) -> Result<Self, CoreError> {
        for ((row, col), &value) in matrix.indexed_iter() {
            if !value.is_finite() {
                return Err(CoreError::NonFinite { row, col, value });
            }
        }
        let matrix = if matrix.is_standard_layout() {
            matrix
        } else {
            matrix.as_standard_layout().into_owned()
        };
        Ok(Self(matrix))
    }

    /// Builds a matrix from a flat row-major buffer of rows of width `dim`.
    pub fn from_rows(dim: usize, values: Vec<f32>) -> Result<Self, CoreError> {
        let len = values.len();
        if dim == 0 || !len.is_multiple_of(dim) {
            return Err(CoreError::Shape { len, dim });
        }
        let matrix = Array2::from_shape_vec((len / dim, dim), values)
            .map_err(|_| CoreError::Shape { len, dim })?;
        Self::new(matrix)
    }

    /// Stacks matrices of equal dimension, in order.
    pub fn concat(parts: &[&Embeddings]) -> Result<Self, CoreError> {
        let dim = parts.first().map_or(0, |p| p.dim());
        if let Some(bad) = parts.iter().find(|p| p.dim() != dim) {
            return Err(CoreError::DimensionMismatch {
                left: dim,
                right: bad.dim(),
            });
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let matrix = ndarray::concatenate(Axis(0), &views).expect("dimensions checked above");
        Ok(Self(matrix))
    }

    /// Number of embeddings (rows).
    pub fn len(&self) -> usize {
        self.0.nrows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.0.nrows() == 0
    }

    /// Width of each embedding.
    pub fn dim(&self) -> usize {
        self.0.ncols()
    }

    /// One embedding.
    pub fn row(&self, index: usize) -> ArrayView1<'_, f32> {
        self.0.row(index)
    }

    /// The whole matrix.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        self.0.view()
    }

    /// The matrix as one contiguous row-major slice.
    pub fn as_slice(&self) -> &[f32] {
        self.0
            .as_slice()
            .expect("Embeddings are always in standard layout")
    }

    /// Squared L2 norm of every row.
    pub fn squared_norms(&self) -> Vec<f32> {
        self.0
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect()
    }

    /// A copy whose rows have unit L2 norm (all-zero rows stay zero).
    pub fn l2_normalized(&self) -> Self {
        let mut matrix = self.0.clone();
        for mut row in matrix.rows_mut() {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.mapv_inplace(|v| v / norm);
            }
        }
        Self(matrix)
    }

    /// A copy keeping only the rows in `range`.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Self {
        Self(self.0.slice(ndarray::s![range, ..]).to_owned())
    }

    /// Consumes the wrapper, returning the matrix.
    pub fn into_inner(self) -> Array2<f32> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nan_with_its_position() {
        let err = Embeddings::from_rows(2, vec![0.0, 1.0, f32::NAN, 2.0]).unwrap_err();
        assert!(matches!(err, CoreError::NonFinite { row: 1, col: 0, .. }));
    }

    #[test]
    fn rejects_ragged_buffers() {
        assert_eq!(
            Embeddings::from_rows(3, vec![0.0; 4]).unwrap_err(),
            CoreError::Shape { len: 4, dim: 3 }
        );
    }

    #[test]
    fn concat_checks_dimensions() {
        let a = Embeddings::from_rows(2, vec![1.0, 2.0]).unwrap();
        let b = Embeddings::from_rows(3, vec![1.0, 2.0, 3.0]).unwrap();
        assert!(Embeddings::concat(&[&a, &b]).is_err());
        assert_eq!(Embeddings::concat(&[&a, &a]).unwrap().len(), 2);
    }
}
