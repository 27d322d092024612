/*
 * ai_agent.c — asks for an AI or quantum job and reads its result later.
 *
 * The job's fee (its price ceiling) is escrowed from this contract's balance, so fund
 * the contract first, e.g. by sending value with the call (`cairn tx call ... --value N`).
 *
 * Storage
 *   "task"   32 bytes: the task id of the last job this contract enqueued
 *
 * Methods
 *   ask(str model, str prompt, u64 max_tokens) -> bytes receipt
 *   ask_quantum(str circuit, u64 shots) -> bytes receipt
 *       enqueue the job (no options), store its task id, emit "asked" with the task id
 *       (32 bytes) and return the JobReceipt (canonical CBOR).  Abort
 *       "insufficient_balance" if the contract cannot pay the fee.
 *   ask_with(str model, str prompt, u64 max_tokens, bytes opts) -> bytes receipt
 *       the same as ask, with the job's options: a canonical CBOR map such as
 *       {"allow": provider addresses, 20 bytes each, concatenated} or {"replicas": 3}
 *       (the keys the AICF reads: aicf/jobs.py, "Assignment"); opts the host refuses
 *       trap "bad_opts".
 *   answer() -> u64 0                      no result committed yet
 *             | u64 1 || bytes record      the ResultRecord (canonical CBOR)
 *       aborts "no_task" before the first ask, "no_such_job" if the job is gone.
 *   task() -> hash
 */
#include "cairn.h"

/* A JobReceipt starts [1, task_id, ...]: array(9), uint 1, bytes(32), then the id. */
static const uint8_t RECEIPT_HEAD[4] = {0x89, 0x01, 0x58, 0x20};

/* Checks an enqueue's return code and receipt, then records and announces the job. */
static void accept_receipt(int32_t n, const uint8_t *receipt) {
    if (n == CAIRN_INSUFFICIENT_BALANCE) cairn_abort_str("insufficient_balance");
    if (n < 0) cairn_abort_str("enqueue_failed");
    if (n > CAIRN_RECEIPT_CAP || n < 4 + CAIRN_HASH_LEN || !cairn_memeq(receipt, RECEIPT_HEAD, 4))
        cairn_abort_str("bad_receipt");

    const uint8_t *task_id = receipt + 4;
    cairn_storage_set(CAIRN_STR("task"), task_id, CAIRN_HASH_LEN);
    cairn_emit_event(CAIRN_STR("asked"), task_id, CAIRN_HASH_LEN);

    cairn_writer w = cairn_output_writer();
    cairn_write_bytes(&w, receipt, (uint32_t)n);
    cairn_return(&w);
}

CAIRN_METHOD(ask) {
    uint32_t model_len, prompt_len;
    cairn_reader args = cairn_args();
    const uint8_t *model = cairn_read_str(&args, &model_len);
    const uint8_t *prompt = cairn_read_str(&args, &prompt_len);
    uint64_t max_tokens = cairn_read_u64(&args);
    cairn_read_end(&args);

    uint8_t receipt[CAIRN_RECEIPT_CAP];
    int32_t n = cairn_ai_enqueue(model, model_len, prompt, prompt_len, (int64_t)max_tokens, 0, 0, receipt,
                                 sizeof receipt);
    accept_receipt(n, receipt);
}

CAIRN_METHOD(ask_with) {
    uint32_t model_len, prompt_len, opts_len;
    cairn_reader args = cairn_args();
    const uint8_t *model = cairn_read_str(&args, &model_len);
    const uint8_t *prompt = cairn_read_str(&args, &prompt_len);
    uint64_t max_tokens = cairn_read_u64(&args);
    const uint8_t *opts = cairn_read_bytes(&args, &opts_len);
    cairn_read_end(&args);

    uint8_t receipt[CAIRN_RECEIPT_CAP];
    int32_t n = cairn_ai_enqueue(model, model_len, prompt, prompt_len, (int64_t)max_tokens, opts, opts_len, receipt,
                                 sizeof receipt);
    accept_receipt(n, receipt);
}

CAIRN_METHOD(ask_quantum) {
    uint32_t circuit_len;
    cairn_reader args = cairn_args();
    const uint8_t *circuit = cairn_read_str(&args, &circuit_len);
    uint64_t shots = cairn_read_u64(&args);
    cairn_read_end(&args);

    uint8_t receipt[CAIRN_RECEIPT_CAP];
    int32_t n = cairn_quantum_enqueue(circuit, circuit_len, (int64_t)shots, 0, 0, receipt, sizeof receipt);
    accept_receipt(n, receipt);
}

/* Loads the stored task id; aborts "no_task" if there is none. */
static void load_task(uint8_t task_id[CAIRN_HASH_LEN]) {
    int32_t n = cairn_storage_get(CAIRN_STR("task"), task_id, CAIRN_HASH_LEN);
    if (n == CAIRN_NOT_FOUND) cairn_abort_str("no_task");
    if (n != CAIRN_HASH_LEN) cairn_abort_str("bad_state");
}

/* The record goes out as u64 1 || u32 length || record, within CAIRN_MAX_OUTPUT. */
static uint8_t record[CAIRN_MAX_OUTPUT - 8 - 4];

CAIRN_METHOD(answer) {
    uint8_t task_id[CAIRN_HASH_LEN];
    cairn_no_args();
    load_task(task_id);

    int32_t n = cairn_read_result(task_id, record, sizeof record);
    if (n == CAIRN_NO_RESULT_YET) {
        cairn_return_u64(0);
        return;
    }
    if (n == CAIRN_NOT_FOUND) cairn_abort_str("no_such_job");
    if (n < 0) cairn_abort_str("read_result_failed");
    if ((uint32_t)n > sizeof record) cairn_abort_str("result_too_large");

    cairn_writer w = cairn_output_writer();
    cairn_write_u64(&w, 1);
    cairn_write_bytes(&w, record, (uint32_t)n);
    cairn_return(&w);
}

CAIRN_METHOD(task) {
    uint8_t task_id[CAIRN_HASH_LEN];
    cairn_no_args();
    load_task(task_id);
    cairn_output(task_id, CAIRN_HASH_LEN);
}
