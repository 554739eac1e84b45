/**
 * The transform matrices of Winograd's minimal filtering algorithms F(m×m, 3×3) (Lavin &
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2015), shared by the
 * JavaScript reference (`../winograd.ts`) and the WebAssembly generator
 * (`wasm/winograd_module.ts`), so that both apply the very same coefficients in the very
 * same order.
 *
 * A 1-d F(m, 3) computes m outputs of a 3-tap correlation from α = m + 2 inputs as
 * `y = Aᵀ [(G g) ⊙ (Bᵀ d)]`; nesting it gives the 2-d `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`.
 *
 * @module
 */

/** The matrices of one F(m×m, 3×3) algorithm (rows as arrays). */
export interface WinogradMatrices {
  /** Output tile side m. */
  readonly m: number;
  /** Input tile side α = m + 2 (so α² transform positions, one GEMM each). */
  readonly alpha: number;
  /** Bᵀ, α × α: the input transform `V = Bᵀ d B`. */
  readonly BT: readonly (readonly number[])[];
  /** G, α × 3: the filter transform `U = G g Gᵀ`. */
  readonly G: readonly (readonly number[])[];
  /** Aᵀ, m × α: the output transform `Y = Aᵀ M A`. */
  readonly AT: readonly (readonly number[])[];
}

/**
 * F(2×2, 3×3): interpolation points 0, 1, −1 and ∞. Bᵀ and Aᵀ hold only 0 and ±1, so the
 * input and output transforms are additions, exact up to one rounding per addition.
 */
export const F2: WinogradMatrices = {
  m: 2,
  alpha: 4,
  BT: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  G: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

/**
 * F(4×4, 3×3): interpolation points 0, ±1, ±2 and ∞. Every entry of Bᵀ and Aᵀ is a small
 * integer (exact in float32); G holds 1/4, 1/6, 1/12 and 1/24, applied once per call to the
 * filters in float64.
 */
export const F4: WinogradMatrices = {
  m: 4,
  alpha: 6,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};
