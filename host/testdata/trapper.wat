;; trapper.wat: failing events, for "a failed event leaves no trace" and for
;; alarm retry.
;;
;; torpor_on_message:
;;   text starting with "ok"     sends "ok" to the sender, returns 0
;;   text starting with "alarm"  sets the alarm to now (WASI realtime clock,
;;                               in ms), sends "alarm set", returns 0
;;   anything else               storage_put("k", "v"), sends "should not
;;                               arrive" to the sender, then traps
;;                               (unreachable): the host must discard both the
;;                               write and the frame and rebuild the instance
;; torpor_on_alarm returns 1 on every attempt, so the host retries the alarm
;; (with retry = 1, 2, ...) and eventually gives up.
;; Matching is by the first bytes only ("ok" and "alarm" prefixes).
;;
;; Memory map: 0x0000 first 8 bytes of the message; 0x0008 clock result (u64);
;; 0x0010 "k"; 0x0011 "v"; 0x0020 "should not arrive"; 0x0040 "ok";
;; 0x0048 "alarm set"; 0x0058 "alarm".
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_put" (func $storage_put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "alarm_set" (func $alarm_set (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x0010) "k")
  (data (i32.const 0x0011) "v")
  (data (i32.const 0x0020) "should not arrive")
  (data (i32.const 0x0040) "ok")
  (data (i32.const 0x0048) "alarm set")
  (data (i32.const 0x0058) "alarm")

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0) (i32.const 8)))

    ;; "ok..."
    (if (i32.and
          (i32.ge_u (local.get $len) (i32.const 2))
          (i32.eq (i32.load16_u (i32.const 0)) (i32.load16_u (i32.const 0x0040))))
      (then
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0040) (i32.const 2)))
        (return (i32.const 0))))

    ;; "alarm..."
    (if (i32.and
          (i32.ge_u (local.get $len) (i32.const 5))
          (i32.and
            (i32.eq (i32.load (i32.const 0)) (i32.load (i32.const 0x0058)))
            (i32.eq (i32.load8_u (i32.const 4)) (i32.load8_u (i32.const 0x005c)))))
      (then
        (if (call $clock_time_get (i32.const 0) (i64.const 1000) (i32.const 0x0008))
          (then (return (i32.const 1))))
        (if (call $alarm_set (i64.div_u (i64.load (i32.const 0x0008)) (i64.const 1000000)))
          (then (return (i32.const 1))))
        (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0048) (i32.const 9)))
        (return (i32.const 0))))

    (drop (call $storage_put (i32.const 0x0010) (i32.const 1) (i32.const 0x0011) (i32.const 1)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0x0020) (i32.const 17)))
    unreachable)

  (func (export "torpor_on_alarm") (param $retry i32) (result i32)
    (i32.const 1))
)
