;; counter.wat — a counter written by hand in WebAssembly text, without the C SDK.
;;
;; Storage
;;   "n"   u64 big endian (8 bytes): the count; absent means 0
;;
;; Methods (arguments are ignored)
;;   increment() -> u64   adds 1 to the count, stores it and returns it
;;   get() -> u64         returns the count
;;
;; Memory (one page; offsets in bytes)
;;   0    the key "n" (1 byte)
;;   16   the abort message "bad_state" (9 bytes): a stored value that is not 8 bytes
;;   32   the abort message "overflow" (8 bytes)
;;   64   the value buffer: the count as 8 big-endian bytes
(module
  (import "env" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_set" (func $storage_set (param i32 i32 i32 i32) (result i32)))
  (import "env" "output" (func $output (param i32 i32) (result i32)))
  (import "env" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (data (i32.const 16) "bad_state")
  (data (i32.const 32) "overflow")

  ;; The stored count (0 when absent), read from the key "n" into the buffer at 64.
  (func $load (result i64)
    (local $len i32) (local $i i32) (local $v i64)
    (local.set $len (call $storage_get (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 8)))
    (if (i32.eq (local.get $len) (i32.const -1)) ;; NOT_FOUND
      (then (return (i64.const 0))))
    (if (i32.ne (local.get $len) (i32.const 8))
      (then (call $abort (i32.const 16) (i32.const 9)) (unreachable)))
    ;; big endian: v = v << 8 | byte, for the 8 bytes in order
    (loop $next
      (local.set $v
        (i64.or
          (i64.shl (local.get $v) (i64.const 8))
          (i64.extend_i32_u (i32.load8_u offset=64 (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 8))))
    (local.get $v))

  ;; Writes v into the buffer at 64 as 8 big-endian bytes, last byte first.
  (func $put (param $v i64)
    (local $i i32)
    (local.set $i (i32.const 8))
    (loop $next
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 offset=64 (local.get $i) (i32.wrap_i64 (local.get $v)))
      (local.set $v (i64.shr_u (local.get $v) (i64.const 8)))
      (br_if $next (local.get $i))))

  (func (export "increment")
    (local $v i64)
    (local.set $v (call $load))
    (if (i64.eq (local.get $v) (i64.const -1)) ;; 2^64 - 1: no room for one more
      (then (call $abort (i32.const 32) (i32.const 8)) (unreachable)))
    (call $put (i64.add (local.get $v) (i64.const 1)))
    (drop (call $storage_set (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 8)))
    (drop (call $output (i32.const 64) (i32.const 8))))

  (func (export "get")
    (call $put (call $load))
    (drop (call $output (i32.const 64) (i32.const 8)))))
