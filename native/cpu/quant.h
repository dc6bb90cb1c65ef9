// Frozen base weights in ggml's block formats (the GGUF tensor types): block geometry, row sizes and the portable
// dequantizers (quant.cpp). The matmuls dequantize W tile by tile (never the whole tensor): the SIMD levels into
// their F32 / BF16 panels (matmul_bf16.cpp has AVX-512 dequantizers for the common types, bit-exact with these).
// Plain extern functions only (no inline definitions): the per-level translation units call them too.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace sf {

/** Block geometry of a ggml dtype (SF_GGML_TYPE(t)): elements and bytes per block; false for other dtypes or a
 *  ggml type that is neither built in nor registered. */
bool quant_geometry(int dt, int* block, int* bytes);
/** True for F32/F16/BF16 and for a ggml dtype with a dequantizer. */
bool weight_dtype_known(int dt);
bool is_quant_dtype(int dt);
/** Bytes of n consecutive elements of a row (n a multiple of the block size for ggml dtypes). */
size_t weight_span_bytes(int dt, int64_t n);
/** Elements [k0, k0 + n) of row `row` of W ([*, K], dtype dt) as F32; k0 and n whole blocks (or n up to K). */
void weight_row_f32(float* out, const void* w, int dt, int K, size_t row, int k0, int n);
/** n elements (whole blocks) from `blocks` into out with the portable dequantizer of dt (or the registered one);
 *  false if dt has none. `ggml_ref`: the registered ggml to_float even for the built-in types (tests). */
bool dequantize_portable(float* out, const void* blocks, int dt, int64_t n, bool ggml_ref = false);

}  // namespace sf
