/*
 * zk_vault.c — holds value until someone proves a statement in zero knowledge.
 *
 * The deployer fixes a Groth16 verification key (snarkjs verification_key.json, BN254).
 * Anyone may deposit.  The first valid proof (snarkjs proof.json and public.json for that
 * key) releases the vault's whole balance to the address the prover names; after that
 * the vault is closed for good.
 *
 * Storage
 *   "vk"         the verification key JSON (at most 65536 bytes), set by init
 *   "owner"      20 bytes: the deployer
 *   "released"   1 byte (0x01), present once the vault has paid out
 *
 * Methods
 *   init(bytes verification_key_json)
 *   deposit()            payable; emits "deposit": caller (20) || value (u256, 32)
 *   withdraw(bytes proof_json, bytes public_json, addr to)
 *                        aborts "already_released", "empty_vault" (nothing to release:
 *                        a proof cannot close an empty vault) or "invalid_proof"; else
 *                        pays the whole balance to `to`, sets "released" and emits
 *                        "released": to (20) || amount (u256, 32)
 *   released() -> u64    1 once released, else 0
 */
#include "cairn.h"

static uint8_t vk[CAIRN_MAX_VALUE];

static int is_released(void) {
    uint8_t flag;
    return cairn_storage_get(CAIRN_STR("released"), &flag, 1) != CAIRN_NOT_FOUND;
}

CAIRN_METHOD(init) {
    uint32_t vk_len;
    cairn_reader args = cairn_args();
    const uint8_t *vk_json = cairn_read_bytes(&args, &vk_len);
    cairn_read_end(&args);
    if (vk_len == 0 || vk_len > CAIRN_MAX_VALUE) cairn_abort_str("bad_args");

    uint8_t owner[CAIRN_ADDR_LEN];
    cairn_caller(owner);
    cairn_storage_set(CAIRN_STR("vk"), vk_json, vk_len);
    cairn_storage_set(CAIRN_STR("owner"), owner, CAIRN_ADDR_LEN);
}

CAIRN_METHOD(deposit) {
    uint8_t data[CAIRN_ADDR_LEN + CAIRN_U256_LEN];
    cairn_no_args();
    cairn_caller(data);
    cairn_value(data + CAIRN_ADDR_LEN);
    cairn_emit_event(CAIRN_STR("deposit"), data, sizeof data);
}

CAIRN_METHOD(withdraw) {
    uint32_t proof_len, public_len;
    uint8_t to[CAIRN_ADDR_LEN];
    cairn_reader args = cairn_args();
    const uint8_t *proof = cairn_read_bytes(&args, &proof_len);
    const uint8_t *public_inputs = cairn_read_bytes(&args, &public_len);
    cairn_read_addr(&args, to);
    cairn_read_end(&args);

    /* The cheap checks first: zk_verify is the most expensive host call. */
    if (is_released()) cairn_abort_str("already_released");
    uint8_t self[CAIRN_ADDR_LEN], data[CAIRN_ADDR_LEN + CAIRN_U256_LEN];
    uint8_t *amount = data + CAIRN_ADDR_LEN;
    cairn_self_address(self);
    cairn_balance(self, amount);
    if (cairn_u256_is_zero(amount)) cairn_abort_str("empty_vault");

    int32_t vk_len = cairn_storage_get(CAIRN_STR("vk"), vk, sizeof vk);
    if (vk_len < 0 || (uint32_t)vk_len > sizeof vk) cairn_abort_str("bad_state");
    if (cairn_zk_verify(vk, (uint32_t)vk_len, proof, proof_len, public_inputs, public_len) != 1)
        cairn_abort_str("invalid_proof");

    if (cairn_transfer(to, amount) != 0) cairn_abort_str("transfer_failed");

    static const uint8_t yes = 1;
    cairn_storage_set(CAIRN_STR("released"), &yes, 1);
    cairn_memcpy(data, to, CAIRN_ADDR_LEN);
    cairn_emit_event(CAIRN_STR("released"), data, sizeof data);
}

CAIRN_METHOD(released) {
    cairn_no_args();
    cairn_return_u64(is_released() ? 1 : 0);
}
