"""The named mutants `benchmarks/mutants.py` applies: deliberate bugs at the precision the README claims
(one LSB, one sample, one ulp), each with the tests that should catch it.

A mutant is a list of exact text replacements in one file (each `old` must occur exactly once) and the
pytest arguments (files or node ids) that cover it. Keep each one small and plausible: a bug someone could
write, that changes what a user gets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    path: str
    edits: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]
    note: str = ""


# Requantization with a wrong tie rule, for kernels to call instead of eq_mul_by_quantized_mul:
# toward_zero 0 rounds exact halves up (toward +inf), 1 toward zero.
ROUNDING = """
static inline int32_t eq_mutant_round(int32_t x, int32_t m, int32_t shift, int toward_zero) {
    const int right = shift > 0 ? 0 : (int)-shift;
    const int64_t high = eq_srdhm(eq_shl_wrap(x, shift > 0 ? (int)shift : 0), m);
    int64_t q, rem, half;
    if (right == 0) {
        return (int32_t)high;
    }
    q = high >> right;
    rem = high - q * ((int64_t)1 << right);
    half = (int64_t)1 << (right - 1);
    if (rem > half || (rem == half && (toward_zero ? high < 0 : 1))) {
        ++q;
    }
    return (int32_t)q;
}

"""

ENGINE_OPS = ("tests/engine/test_engine_ops.py", "tests/engine/test_engine_halves.py")
PLANNER = tuple(f"tests/engine/test_engine_planner.py::{name}" for name in (
    "test_random_plans_are_valid_and_never_worse_than_greedy_by_size",
    "test_lower_bound_counts_blocks_alive_at_their_last_step",
    "test_known_graph_where_greedy_by_size_misses_the_optimum",
    "test_small_graphs_reach_the_exhaustive_optimum"))
GATES = ("tests/validate/test_val_gates.py", "tests/validate/test_val_metrics.py",
         "tests/validate/test_validate.py")
SAMPLES = ("tests/samples/test_samples.py", "tests/validate/test_val_data.py")
IO_HELPERS = ("tests/emit/test_emit_io_helpers.py",)
VERIFY = ("tests/emulate/test_emulate_harness.py", "tests/emulate/test_emulate_verify.py")
KERNELS = "edgeq/engine/kernels"
SPEC = ("tests/integration/test_option_spec.py",)
OUTPUTS = "tests/integration/test_cli_outputs.py"
RECORD = ("tests/integration/test_report_record.py",)
DW3_TESTS = ("tests/engine/test_engine_dsp.py", "tests/engine/test_engine_halves.py")
COMPRESS = ("tests/compress/test_compress_weights.py",)
PACKED = ("tests/engine/test_engine_packed.py", "tests/engine/test_engine_packed_halves.py")
HOSTILE = "tests/integration/test_hostile_inputs.py"
LABELS = (HOSTILE, "tests/validate/test_val_data.py", "tests/samples/test_samples.py")
BOUNDED = "tests/integration/test_hostile_bounded.py"

MUTANTS = [
    # ------------------------------------------------------------------------------------------ C kernels
    Mutant("rdbp-negative-halves-toward-zero", "kernels", f"{KERNELS}/eq_fixedpoint.h",
           (("const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);", "const int32_t threshold = (mask >> 1);"),),
           ENGINE_OPS, "eq_rounding_divide_by_pot rounds negative halves up (from the issue)"),
    Mutant("conv-fc-requant-halves-up", "kernels", f"{KERNELS}/eq_conv.c",
           (("static inline int8_t eq_channel_result(", ROUNDING + "static inline int8_t eq_channel_result("),
            ("eq_mul_by_quantized_mul(acc, q->mult[ch], q->shift[ch])",
             "eq_mutant_round(acc, q->mult[ch], q->shift[ch], 0)")),
           ENGINE_OPS, "CONV/DEPTHWISE/FC final shift rounds halves up (from the issue)"),
    Mutant("srdhm-negative-nudge", "kernels", f"{KERNELS}/eq_fixedpoint.h",
           (("nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));", "nudge = (int64_t)1 << 30;"),),
           ENGINE_OPS, "the doubling high multiply rounds negative products like positive ones"),
    Mutant("add-sub-output-halves-up", "kernels", f"{KERNELS}/eq_elementwise.c",
           (("static inline int8_t eq_add_sub(", ROUNDING + "static inline int8_t eq_add_sub("),
            ("eq_mul_by_quantized_mul_smaller_than_one(raw, p->output_mult, p->output_shift)",
             "eq_mutant_round(raw, p->output_mult, p->output_shift, 0)")),
           ENGINE_OPS),
    Mutant("mul-halves-toward-zero", "kernels", f"{KERNELS}/eq_elementwise.c",
           (("static int8_t eq_mul_one(", ROUNDING + "static int8_t eq_mul_one("),
            ("eq_mul_by_quantized_mul(product, p->output_mult, p->output_shift)",
             "eq_mutant_round(product, p->output_mult, p->output_shift, 1)")),
           ENGINE_OPS),
    Mutant("requantize-halves-toward-zero", "kernels", f"{KERNELS}/eq_elementwise.c",
           (("void eq_requantize_8(", ROUNDING + "void eq_requantize_8("),
            ("eq_mul_by_quantized_mul(x - p->input_offset, p->mult, p->shift)",
             "eq_mutant_round(x - p->input_offset, p->mult, p->shift, 1)")),
           ENGINE_OPS, "RELU and int8 QUANTIZE"),
    Mutant("mean-halves-up", "kernels", f"{KERNELS}/eq_shape.c",
           (("void eq_mean_s8(", ROUNDING + "void eq_mean_s8("),
            ("eq_mul_by_quantized_mul(sum - p->input_zero_point * p->count, p->mult, p->shift)",
             "eq_mutant_round(sum - p->input_zero_point * p->count, p->mult, p->shift, 0)")),
           ENGINE_OPS),
    Mutant("avgpool-negative-halves-toward-zero", "kernels", f"{KERNELS}/eq_pool.c",
           (("(acc - count / 2) / count", "(acc - (count - 1) / 2) / count"),), ENGINE_OPS),
    Mutant("quantize-float-positive-halves-down", "kernels", f"{KERNELS}/eq_float_io.c",
           (("if (frac >= 0.5f) {", "if (frac > 0.5f) {"),), ENGINE_OPS, "QUANTIZE from float32"),
    Mutant("logistic-tanh-output-truncates", "kernels", f"{KERNELS}/eq_nonlinear.c",
           (("eq_rounding_divide_by_pot(f(x_q4), 31 - output_bits)", "(f(x_q4) >> (31 - output_bits))"),),
           ("tests/engine/test_nonlinear.py",)),
    Mutant("avgpool-uses-double", "kernels", f"{KERNELS}/eq_pool.c",
           (("acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;",
             "acc = (int32_t)((double)acc / count + (acc > 0 ? 0.5 : -0.5));"),),
           ("tests/engine/test_engine_codegen.py::test_int8_paths_use_no_floating_point_on_cortex_m4",),
           "same results, but soft-float calls on fpv4-sp-d16"),
    Mutant("dsp-requant-negative-halves-up", "kernels", f"{KERNELS}/eq_dsp.h",
           (("return (((y + (y >> 31)) >> ~shift) + 1) >> 1;", "return ((y >> ~shift) + 1) >> 1;"),),
           (*ENGINE_OPS, "tests/engine/test_engine_dsp.py"), "the DSP kernels' fast requantization"),
    Mutant("dsp-packed-shift-increment-dropped", "kernels", f"{KERNELS}/eq_dsp.h",
           (("*s = shift[c * step] + (int32_t)(word >> 30);", "*s = shift[c * step];"),),
           (*ENGINE_OPS, "tests/engine/test_engine_dsp.py"), "per-channel shifts packed in the multipliers' words"),
    # The 3x3 depthwise DSP kernel (eq_dwconv3x3_dsp_s8): its SMLAD pairing, rounding, padding and copy.
    Mutant("dw3-pair-tap-bottom-for-top", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("a3 = eq_smlad(x45_, f12, eq_smlatb(x23_, f01, a3));",
             "a3 = eq_smlad(x45_, f12, eq_smlabb(x23_, f01, a3));"),), DW3_TESTS,
           "the fourth pixel's first tap reads its left neighbour's column"),
    Mutant("dw3-fast-negative-halves-up", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("return (int8_t)eq_ssat8((((y + (y >> 31)) >> e1) + r) >> 1);",
             "return (int8_t)eq_ssat8((((y) >> e1) + r) >> 1);"),), DW3_TESTS,
           "the fused rounding and offset of the fast form"),
    Mutant("dw3-padding-reads-zero", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("eq_dw3_fill(ring, p->input_zero_point, 3 * ch * cols);", "eq_dw3_fill(ring, 0, 3 * ch * cols);"),),
           DW3_TESTS, "padding columns hold 0 instead of the input zero point"),
    Mutant("dw3-single-pixel-third-tap", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("(a0 = eq_smlabt(eq_load_pair((x) + 2), f12,", "(a0 = eq_smlatt(eq_load_pair((x) + 2), f12,"),),
           DW3_TESTS, "a row's last pixel takes the column after its window"),
    Mutant("dw3-fast-bias-not-doubled", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("const int32_t b = (SCALE) * bias[c],", "const int32_t b = bias[c],"),), DW3_TESTS,
           "the fast form's accumulators start from the bias, not twice it"),
    Mutant("dw3-copy-lanes-swapped", "kernels", f"{KERNELS}/eq_dsp_dw.c",
           (("dst[cols] = (int16_t)odd;", "dst[cols] = (int16_t)(even >> 16);"),), DW3_TESTS,
           "the row copy puts channel c + 2 where c + 1 belongs"),
    # ------------------------------------------------------------------------------- engine (Python side)
    Mutant("dsp-zero-multiplier-channel-accumulates", "engine", "edgeq/engine/ops_dsp.py",
           (("weights[dead], bias[dead], mult[dead] = 0, 0, 1 << 30", "mult[dead] = 1 << 30"),), ENGINE_OPS,
           "a channel TFLM maps to its zero point keeps its weights"),
    Mutant("write-behind-one-byte-short", "engine", "edgeq/engine/ops_conv.py",
           (("return int(finite.max()) if finite.size else -total_in",
             "return int(finite.max()) - 1 if finite.size else -total_in"),),
           ("tests/engine/test_engine_overlap.py",), "a convolution's output one byte too close to its input"),
    Mutant("same-padding-larger-half-front", "engine", "edgeq/engine/ops_conv.py",
           (("return out, total // 2", "return out, (total + 1) // 2"),), ENGINE_OPS, "from the issue"),
    Mutant("multiplier-truncated", "engine", "edgeq/engine/quant.py",
           (("q_fixed = round_half_away(q * float(1 << 31))", "q_fixed = int(q * float(1 << 31))"),), ENGINE_OPS),
    Mutant("multiplier-flush-below-2^-33", "engine", "edgeq/engine/quant.py",
           (("if shift < -31:", "if shift < -33:"),), ENGINE_OPS),
    Mutant("planner-overlap-strict", "planner", "edgeq/engine/planner.py",
           (("return self.first <= other.last and other.first <= self.last",
             "return self.first < other.last and other.first < self.last"),), PLANNER, "from the issue"),
    Mutant("planner-lower-bound-open-end", "planner", "edgeq/engine/planner.py",
           (("if b.first <= t <= b.last)", "if b.first <= t < b.last)"),),
           PLANNER),
    # ---------------------------------------------------------------------------------- metrics and gates
    Mutant("max-error-gate-flipped", "gates", "edgeq/validate/gates.py",
           (('Gate("max_abs_error", "max_error", "<="', 'Gate("max_abs_error", "max_error", ">="'),), GATES,
           "from the issue"),
    Mutant("gate-tolerance-loose", "gates", "edgeq/validate/gates.py",
           (("value <= threshold + 1e-9 if self.operator == \"<=\" else value >= threshold - 1e-9",
             "value <= threshold + 1e-3 if self.operator == \"<=\" else value >= threshold - 1e-3"),), GATES),
    Mutant("minimum-gates-strict", "gates", "edgeq/validate/gates.py",
           (("else value >= threshold - 1e-9", "else value > threshold"),), GATES),
    Mutant("accuracy-drop-sign", "metrics", "edgeq/validate/results.py",
           (("100.0 * (self.float_accuracy.correct - self.accuracy.correct)",
             "100.0 * (self.accuracy.correct - self.float_accuracy.correct)"),), GATES),
    Mutant("sqnr-noise-not-squared", "metrics", "edgeq/validate/metrics.py",
           (("self.noise += float(np.sum(err * err))", "self.noise += float(np.sum(np.abs(err)))"),), GATES),
    # ------------------------------------------------------------------------------ calibration and draws
    Mutant("select-indices-head", "samples", "edgeq/samples.py",
           (("return np.sort(np.random.default_rng(SELECTION_SEED).choice(total, size=limit, replace=False))",
             "return np.arange(limit)"),), SAMPLES, "from the issue"),
    Mutant("select-indices-unsorted", "samples", "edgeq/samples.py",
           (("return np.sort(np.random.default_rng(SELECTION_SEED).choice(total, size=limit, replace=False))",
             "return np.random.default_rng(SELECTION_SEED).choice(total, size=limit, replace=False)"),), SAMPLES),
    Mutant("selection-seed-changed", "samples", "edgeq/samples.py", (("SELECTION_SEED = 0", "SELECTION_SEED = 1"),),
           SAMPLES),
    Mutant("calib-samples-ignored", "samples", "edgeq/pipeline.py",
           (("limit=options.calib_samples, preprocess", "limit=None, preprocess"),),
           ("tests/integration/test_convert.py::test_calib_samples_draws_that_many_rows_from_the_file",
            "tests/integration/test_convert.py::test_report_contents")),
    # -------------------------------------------------------------- the option spec and report.json (issue 21)
    Mutant("validation-options-without-val", "options", "edgeq/options.py",
           (("        if given and getattr(options, switch) in (None, False):",
             "        if given and getattr(options, switch) is False:"),), SPEC, "the API ignored them before"),
    Mutant("recover-int16x8-decided-late", "options", "edgeq/options.py",
           (('    if options.recover and options.mode != "int8":', '    if options.recover and options.mode == "?":'),),
           (*SPEC, f"{OUTPUTS}::test_refusals_come_before_the_conversion"), "from issue 20"),
    Mutant("recover-count-ignores-calib-samples", "options", "edgeq/options.py",
           (("    if options.calib_samples is not None and options.calib_samples < count:",
             "    if options.calib_samples is not None and options.calib_samples > count:"),),
           (f"{OUTPUTS}::test_refusals_come_before_the_conversion",)),
    Mutant("tflm-tree-asked-before-emulation", "options", "edgeq/options.py",
           (("        machine_for(target)\n        if options.runtime == \"tflm\":",
             "        if options.runtime == \"tflm\":"),
            ("        find_toolchain()\n", "        find_toolchain()\n        machine_for(target)\n")),
           (*SPEC, f"{OUTPUTS}::test_refusals_come_before_the_conversion"), "from issue 20"),
    Mutant("record-drops-explicit-nulls", "record", "edgeq/record.py",
           ((' or f.name in getattr(obj, "_nulls", ())', ""),), RECORD),
    Mutant("record-refuses-old-reports", "record", "edgeq/record.py",
           (('    version = data.get("schema_version", 0)', '    version = data.get("schema_version", -1)'),), RECORD),
    # ----------------------------------------------------------------------------- hostile inputs (issue 20)
    Mutant("label-shape-check-removed", "samples", "edgeq/validate/data.py",
           (("if labels.ndim == 2 and labels.shape[1] == classes:", "if labels.ndim == 2 and labels.shape[1] > 1:"),),
           LABELS, "one-hot 5 wide for a 10-class output passed validation"),
    Mutant("npz-unused-keys-ignored", "samples", "edgeq/samples.py",
           (("    if unused:\n        reads =", "    if unused and len(inputs) > 1:\n        reads ="),),
           (HOSTILE, "tests/samples/test_samples.py"), "labels saved as 'labels' were ignored"),
    Mutant("scale-nan-accepted", "samples", "edgeq/preprocess.py",
           (("bad = [v for v in values if not math.isfinite(v)]", "bad = [v for v in values if math.isinf(v)]"),),
           (HOSTILE,)),
    Mutant("bgr-ignored-on-one-channel", "samples", "edgeq/preprocess.py",
           (("            if channels != 3:", "            if channels not in (1, 3):"),), (HOSTILE,)),
    # ------------------------------------------------------------------------------------------------ emit
    Mutant("model-io-plus-half-rounding", "emit", "firmware_templates/_sources/model_io.h.j2",
           (("  int32_t q = (int32_t)scaled;\n",
             "  int32_t q = (int32_t)(scaled >= 0.0f ? scaled + 0.5f : scaled - 0.5f);\n"),
            ("  if (fraction >= 0.5f) q += 1;\n  if (fraction <= -0.5f) q -= 1;\n", "  (void)fraction;\n")),
           IO_HELPERS, "the bug this issue fixed"),
    Mutant("model-io-nan-saturates", "emit", "firmware_templates/_sources/model_io.h.j2",
           (("if (!(scaled == scaled)) scaled = 0.0f;", "if (!(scaled == scaled)) scaled = -1048576.0f;"),),
           IO_HELPERS),
    Mutant("float-literal-8-digits", "emit", "edgeq/render.py",
           (('text = f"{float(np.float32(value)):.9g}"', 'text = f"{float(np.float32(value)):.8g}"'),),
           ("tests/emit/test_emit_carray.py", *IO_HELPERS)),
    # ---------------------------------------------------------------------------------------------- verify
    Mutant("verify-ignores-1-lsb", "verify", "edgeq/emulate/verify.py",
           (("                diff = np.abs(guest.astype(np.int64) - array.astype(np.int64))\n",
             "                diff = np.abs(guest.astype(np.int64) - array.astype(np.int64))\n"
             "                diff = np.where(diff <= 1, 0, diff)\n"),), VERIFY, "from the issue"),
    Mutant("verify-nan-equal", "verify", "edgeq/emulate/verify.py",
           (("diff = np.where(np.isnan(diff), np.inf, diff)", "diff = np.where(np.isnan(diff), 0.0, diff)"),),
           VERIFY),
    Mutant("verify-skips-last-sample", "verify", "edgeq/emulate/verify.py",
           (("for want, got in zip(expected, run.samples, strict=True):",
             "for want, got in zip(expected[:-1], run.samples[:-1], strict=True):"),), VERIFY),
    # -------------------------------------------------------------------------------------------- compress
    Mutant("lut-index-packing-off-by-one", "compress", "edgeq/compress/lut.py",
           (("    fields = (flat[:, None] >> np.arange(bits - 1, -1, -1)[None, :]) & 1\n",
             "    fields = (flat[:, None] >> np.arange(bits, 0, -1)[None, :]) & 1\n"),), COMPRESS),
    Mutant("lut-wrong-channel-last-axis", "compress", "edgeq/compress/lut.py",
           (("    moved = np.moveaxis(values, axis, 0)\n    tables, indices",
             "    moved = values.reshape(values.shape[axis], *np.delete(values.shape, axis))\n    tables, indices"),),
           COMPRESS, "a reshape for a transpose: right for axis 0, the wrong channel's table for depthwise (axis 3)"),
    Mutant("int4-no-sign-extension", "compress", "edgeq/compress/int4.py",
           (("return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)",
             "return nibbles.astype(np.int8)"),), COMPRESS),
    Mutant("int4-pack-drops-sign-bit", "compress", "edgeq/compress/int4.py",
           (("nibbles = (values.astype(np.int64).ravel() & 0x0F)",
             "nibbles = (values.astype(np.int64).ravel() & 0x07)"),),
           COMPRESS),
    Mutant("engine-lut-table-by-channel-per-tensor", "compress", f"{KERNELS}/eq_packed.c",
           (("const int8_t *table = f->tables + (f->per_channel ? channel : 0) * f->stride;",
             "const int8_t *table = f->tables + channel * f->stride;"),), PACKED,
           "a LUT read with the wrong channel: a per-tensor filter's single table indexed by channel"),
    Mutant("engine-dw-packed-conv-layout", "compress", f"{KERNELS}/eq_packed.c",
           (("eq_packed_decode(f, oc, taps, p->out_c, oc, scratch);",
             "eq_packed_decode(f, oc * taps, taps, 1, oc, scratch);"),), PACKED,
           "a depthwise channel's weights read as if contiguous (CONV_2D's layout)"),
    Mutant("engine-int4-sign-extension", "compress", f"{KERNELS}/eq_packed.c",
           (("dst[i] = (int8_t)(nibble >= 8 ? nibble - 16 : nibble);",
             "dst[i] = (int8_t)(nibble > 8 ? nibble - 16 : nibble);"),), PACKED, "-8 read as +8"),
    # ------------------------------------------------------------------------------------ bounded work (issue 20)
    Mutant("model-size-limit-x4", "bounded", "edgeq/files.py",
           (("MAX_MODEL_BYTES = 2 << 30", "MAX_MODEL_BYTES = 8 << 30"),),
           (f"{BOUNDED}::test_a_model_file_over_the_limit_is_refused_by_every_command",), "size limit off by a factor"),
    Mutant("tflite-read-before-identifier", "bounded", "edgeq/tflite/reader.py",
           (("        head = read_head(path, 8)  # the identifier decides before the rest is read\n",
             "        head = path.read_bytes()[:8]\n"),),
           (f"{BOUNDED}::test_the_identifier_is_checked_before_the_rest_is_read",), "lazy read made eager"),
    Mutant("keras-config-limit-x8", "bounded", "edgeq/load/legacy.py",
           (("MAX_CONFIG_BYTES = 64 << 20", "MAX_CONFIG_BYTES = 64 << 23"),),
           (f"{BOUNDED}::test_a_config_json_bomb_is_refused_in_one_line_and_bounded",), "size limit off by a factor"),
    Mutant("keras-config-depth-x1000", "bounded", "edgeq/load/legacy.py",
           (("MAX_CONFIG_DEPTH = 200 ", "MAX_CONFIG_DEPTH = 200_000 "),),
           (f"{BOUNDED}::test_deeply_nested_config_json_is_refused_without_recursion_error",)),
    Mutant("sample-limit-x4", "bounded", "edgeq/sample_files.py",
           (("    if claimed > limit:\n", "    if claimed > 4 * limit:\n"),),
           (f"{BOUNDED}::test_a_claim_over_the_sample_limit_is_refused",), "size limit off by a factor"),
    Mutant("sample-claim-not-checked-against-file", "bounded", "edgeq/sample_files.py",
           (("    if claimed > available:\n", "    if claimed > available and False:\n"),),
           (f"{BOUNDED}::test_forged_sample_headers_are_refused_before_tensorflow_loads",)),
    Mutant("calib-npy-read-eagerly", "bounded", "edgeq/samples.py",
           (('        return np.load(path, mmap_mode="r", allow_pickle=False)',
             "        return np.load(path, allow_pickle=False)"),),
           (f"{BOUNDED}::test_calib_samples_bound_what_is_read_from_a_large_npz_and_npy",), "lazy read made eager"),
    Mutant("calib-npz-read-whole", "bounded", "edgeq/sample_files.py",
           (("        if self.fortran or selection.ndim != 1 or not self.shape:",
             "        if True:"),),
           (f"{BOUNDED}::test_calib_samples_bound_what_is_read_from_a_large_npz_and_npy",), "lazy read made eager"),
    Mutant("fit-gate-budget-x2", "bounded", "edgeq/pipeline.py",
           (("    if params < budget:\n", "    if params < 2 * budget:\n"),),
           (f"{BOUNDED}::test_weights_that_cannot_fit_the_flash_are_refused_before_quantizing",)),
    Mutant("staging-sigterm-not-handled", "bounded", "edgeq/staging.py",
           (("    previous = signal.signal(signal.SIGTERM, terminate)",
             "    previous = signal.getsignal(signal.SIGTERM)"),),
           (f"{BOUNDED}::test_sigterm_removes_the_staging_folder_and_keeps_the_old_out",)),
    Mutant("stale-staging-ignores-live-pid", "bounded", "edgeq/staging.py",
           (("                and not _process_alive(marker[\"pid\"])):", "                ):"),),
           (f"{BOUNDED}::test_a_later_run_removes_staging_folders_a_killed_run_left_and_says_so",)),
    Mutant("stale-staging-kept", "bounded", "edgeq/staging.py",
           (("    remove_stale_staging(out_dir, warn)\n", ""),),
           (f"{BOUNDED}::test_a_later_run_removes_staging_folders_a_killed_run_left_and_says_so",)),
]
