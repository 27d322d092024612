/*
 * token.c — a fungible token with a fixed supply.
 *
 * Storage
 *   "supply"               u64 BE (8 bytes): the total supply, set once by init
 *   "bal:" || addr (20)    u64 BE (8 bytes): the balance of addr; absent means 0
 *
 * Methods
 *   init(u64 supply)                mints the whole supply to the deployer
 *   transfer(addr to, u64 amount)   moves amount from the caller to `to`; aborts
 *                                   "insufficient" if the caller has less; emits
 *                                   "transfer": from (20) || to (20) || amount (u64 BE, 8)
 *   balance_of(addr owner) -> u64
 *   total_supply() -> u64
 *
 * Balances never sum to more than the supply, so a credit cannot overflow a u64.
 */
#include "cairn.h"

#define BAL_PREFIX "bal:"
#define BAL_KEY_LEN (4 + CAIRN_ADDR_LEN)

static void balance_key(uint8_t key[BAL_KEY_LEN], const uint8_t addr[CAIRN_ADDR_LEN]) {
    cairn_memcpy(key, BAL_PREFIX, 4);
    cairn_memcpy(key + 4, addr, CAIRN_ADDR_LEN);
}

static uint64_t balance_get(const uint8_t addr[CAIRN_ADDR_LEN]) {
    uint8_t key[BAL_KEY_LEN];
    uint64_t v;
    balance_key(key, addr);
    cairn_storage_get_u64(key, BAL_KEY_LEN, &v);
    return v;
}

static void balance_set(const uint8_t addr[CAIRN_ADDR_LEN], uint64_t v) {
    uint8_t key[BAL_KEY_LEN];
    balance_key(key, addr);
    cairn_storage_set_u64(key, BAL_KEY_LEN, v);
}

CAIRN_METHOD(init) {
    cairn_reader args = cairn_args();
    uint64_t supply = cairn_read_u64(&args);
    cairn_read_end(&args);

    uint8_t deployer[CAIRN_ADDR_LEN];
    cairn_caller(deployer);
    cairn_storage_set_u64(CAIRN_STR("supply"), supply);
    balance_set(deployer, supply);
}

CAIRN_METHOD(transfer) {
    uint8_t from[CAIRN_ADDR_LEN], to[CAIRN_ADDR_LEN];
    cairn_reader args = cairn_args();
    cairn_read_addr(&args, to);
    uint64_t amount = cairn_read_u64(&args);
    cairn_read_end(&args);

    cairn_caller(from);
    uint64_t have = balance_get(from);
    if (have < amount) cairn_abort_str("insufficient");
    balance_set(from, have - amount);
    balance_set(to, balance_get(to) + amount); /* read after the debit: from == to works */

    uint8_t data[2 * CAIRN_ADDR_LEN + 8];
    cairn_writer w = cairn_writer_on(data, sizeof data);
    cairn_write_addr(&w, from);
    cairn_write_addr(&w, to);
    cairn_write_u64(&w, amount);
    cairn_emit_event(CAIRN_STR("transfer"), data, w.len);
}

CAIRN_METHOD(balance_of) {
    uint8_t owner[CAIRN_ADDR_LEN];
    cairn_reader args = cairn_args();
    cairn_read_addr(&args, owner);
    cairn_read_end(&args);
    cairn_return_u64(balance_get(owner));
}

CAIRN_METHOD(total_supply) {
    uint64_t supply;
    cairn_no_args();
    cairn_storage_get_u64(CAIRN_STR("supply"), &supply);
    cairn_return_u64(supply);
}
