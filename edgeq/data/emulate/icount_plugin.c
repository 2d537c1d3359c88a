/*
 * edgeq's instruction-counting plugin for QEMU's TCG plugin interface, API version 1 (QEMU 7.2, Debian 12).
 *
 * Debian's QEMU loads TCG plugins but ships neither plugins nor the qemu-plugin.h header, so the few
 * declarations used here are written out below, matching the v1 API as QEMU 7.2 exports it (a QEMU whose
 * API moved on refuses to load the plugin and says so). Built with the host compiler by edgeq.emulate on
 * first use and cached.
 *
 * Arguments: begin=<addr>,end=<addr>,out=<file>[,op=<addr>]. Every executed guest instruction adds 1 to a
 * counter (an inline add on each instruction, so an exception in the middle of a block cannot over-count).
 * When the instruction at `begin` executes, the counter is noted; when the one at `end` executes, the
 * difference is appended to <file> as one decimal line. Each execution of the instruction at `op` between
 * the two appends "op <count so far>" first (the generated model calls that marker after every operator).
 * The guest calls the marker functions around each inference. There are no interrupts in the harness, so
 * the counts are exact and repeat run to run.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the subset of QEMU's plugin API (v1) this plugin uses ---- */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EDGEQ_EXPORT __attribute__((visibility("default")))
EDGEQ_EXPORT int qemu_plugin_version = 1;

/* ---- the counter ---- */
static uint64_t executed;    /* guest instructions executed so far (single vCPU) */
static uint64_t started_at;
static int counting;
static uint64_t begin_addr, end_addr, op_addr;
static int have_op;
static FILE *out;

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    started_at = executed;
    counting = 1;
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (counting) {
        fprintf(out, "%" PRIu64 "\n", executed - started_at);
        fflush(out); /* the guest may end QEMU with exit() at any moment */
        counting = 0;
    }
}

static void on_op(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (counting) {
        fprintf(out, "op %" PRIu64 "\n", executed - started_at);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        if (vaddr == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (vaddr == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (have_op && vaddr == op_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_op, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    if (out != NULL) {
        fprintf(out, "total %" PRIu64 "\n", executed);
        fclose(out);
        out = NULL;
    }
}

static int parse_address(const char *text, uint64_t *value)
{
    char *rest = NULL;
    *value = strtoull(text, &rest, 0);
    return rest != text && *rest == '\0';
}

EDGEQ_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    int have_begin = 0, have_end = 0;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "begin=", 6) == 0) {
            have_begin = parse_address(argv[i] + 6, &begin_addr);
        } else if (strncmp(argv[i], "end=", 4) == 0) {
            have_end = parse_address(argv[i] + 4, &end_addr);
        } else if (strncmp(argv[i], "op=", 3) == 0) {
            have_op = parse_address(argv[i] + 3, &op_addr);
            if (!have_op) {
                fprintf(stderr, "edgeq icount plugin: bad op address %s\n", argv[i] + 3);
                return -1;
            }
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else {
            fprintf(stderr, "edgeq icount plugin: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (!have_begin || !have_end || path == NULL) {
        fprintf(stderr, "edgeq icount plugin: needs begin=<addr>,end=<addr>,out=<file>\n");
        return -1;
    }
    /* Thumb function symbols carry bit 0; instruction addresses do not. */
    begin_addr &= ~(uint64_t)1;
    end_addr &= ~(uint64_t)1;
    op_addr &= ~(uint64_t)1;
    out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "edgeq icount plugin: cannot write %s\n", path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
