;; counter.wat: the hand-written WAT twin of plugins/counter (torpor ABI v1).
;;
;; Protocol (every frame text; the payload is matched exactly, whatever the
;; frame kind; replies go to the sender unless noted):
;;   "inc"    storage "count" += 1, hits += 1; reply the new count in decimal
;;   "get"    reply storage "count" in decimal (absent = 0)
;;   "hits"   reply hits in decimal (in memory only, carried by the snapshot)
;;   "trap"   storage "count" += 1, reply "trapping", then trap: the event
;;            fails, so neither the write nor the frame survives
;;   "alarm"  set the alarm to now + 50 ms (WASI realtime clock); reply "alarm set"
;;   "alarms" reply storage "alarms" in decimal (absent = 0)
;;   other    reply "unknown command"
;;   alarm    storage "alarms" += 1; broadcast "alarm" to every connection
;; Storage values are 8-byte little-endian u64. The snapshot is hits as an
;; 8-byte little-endian u64; restore reads it back only when it is 8 bytes.
;;
;; A storage error other than NotFound fails the event (handler returns 1); a
;; failed send is ignored, since the frame is best effort and the write should
;; still commit.
;;
;; Memory map (one 64 KiB page, all buffers static):
;;   0x0000  u32  len_out for storage_get
;;   0x0008  u64  clock_time_get result (ns)
;;   0x0010  u64  storage value buffer
;;   0x0018  u64  hits (the in-memory state; snapshot replies from here)
;;   0x0040  "count"            0x0048  "alarms"
;;   0x0050  "inc"   0x0054 "get"   0x0058 "hits"   0x005c "trap"   0x0060 "alarm"
;;   0x0068  "alarms" (command)
;;   0x0080  "trapping"         0x0090  "alarm set"    0x00a0  "alarm"
;;   0x00b0  "unknown command"
;;   0x0100  incoming message, first 16 bytes
;;   0x0200  decimal output, 20 bytes ending at 0x0214 (u64 max has 20 digits)
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "reply" (func $reply (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "broadcast" (func $broadcast (param i32 i32 i32 i64 i32 i32) (result i32)))
  (import "torpor_v1" "storage_get" (func $storage_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_put" (func $storage_put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "alarm_set" (func $alarm_set (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))

  (memory (export "memory") 1)

  (global $LEN_OUT i32 (i32.const 0x0000))
  (global $CLOCK   i32 (i32.const 0x0008))
  (global $VAL     i32 (i32.const 0x0010))
  (global $HITS    i32 (i32.const 0x0018))
  (global $MSG     i32 (i32.const 0x0100))
  (global $DEC_END i32 (i32.const 0x0214))

  (data (i32.const 0x0040) "count")
  (data (i32.const 0x0048) "alarms")
  (data (i32.const 0x0050) "inc")
  (data (i32.const 0x0054) "get")
  (data (i32.const 0x0058) "hits")
  (data (i32.const 0x005c) "trap")
  (data (i32.const 0x0060) "alarm")
  (data (i32.const 0x0068) "alarms")
  (data (i32.const 0x0080) "trapping")
  (data (i32.const 0x0090) "alarm set")
  (data (i32.const 0x00a0) "alarm")
  (data (i32.const 0x00b0) "unknown command")

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  ;; $load reads the u64 stored under key into $VAL (0 when absent) and
  ;; returns 0, or returns the failing status. A value that is not exactly
  ;; 8 bytes is reported as Invalid (4).
  (func $load (param $key i32) (param $klen i32) (result i32)
    (local $st i32)
    (i64.store (global.get $VAL) (i64.const 0))
    (local.set $st
      (call $storage_get (local.get $key) (local.get $klen)
        (global.get $VAL) (i32.const 8) (global.get $LEN_OUT)))
    (if (i32.eq (local.get $st) (i32.const 2)) ;; NotFound: absent = 0
      (then
        (i64.store (global.get $VAL) (i64.const 0))
        (return (i32.const 0))))
    (if (local.get $st) (then (return (local.get $st))))
    (if (i32.ne (i32.load (global.get $LEN_OUT)) (i32.const 8))
      (then (return (i32.const 4))))
    (i32.const 0))

  ;; $incr adds 1 to the u64 under key and writes it back; the new value is
  ;; left in $VAL. Returns 0 or the failing status.
  (func $incr (param $key i32) (param $klen i32) (result i32)
    (local $st i32)
    (local.set $st (call $load (local.get $key) (local.get $klen)))
    (if (local.get $st) (then (return (local.get $st))))
    (i64.store (global.get $VAL)
      (i64.add (i64.load (global.get $VAL)) (i64.const 1)))
    (call $storage_put (local.get $key) (local.get $klen) (global.get $VAL) (i32.const 8)))

  ;; $send_text sends the text at (ptr, len) to conn, ignoring the status.
  (func $send_text (param $conn i64) (param $ptr i32) (param $len i32)
    (drop (call $send (local.get $conn) (i32.const 1) (local.get $ptr) (local.get $len))))

  ;; $send_u64 sends v to conn as unsigned decimal text.
  (func $send_u64 (param $conn i64) (param $v i64)
    (local $p i32)
    (local.set $p (global.get $DEC_END))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p)
        (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $send_text (local.get $conn) (local.get $p)
      (i32.sub (global.get $DEC_END) (local.get $p))))

  ;; $is reports whether the message (at $MSG, mlen bytes long) equals the
  ;; command at (ptr, len).
  (func $is (param $mlen i32) (param $ptr i32) (param $len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $mlen) (local.get $len)) (then (return (i32.const 0))))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne
              (i32.load8_u (i32.add (global.get $MSG) (local.get $i)))
              (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (i32.const 1))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $st i32)
    ;; Commands are at most 6 bytes: 16 bytes is enough to tell them apart,
    ;; and $is compares the full length first.
    (if (call $event_read (global.get $MSG) (i32.const 16))
      (then (return (i32.const 1))))

    (if (call $is (local.get $len) (i32.const 0x0050) (i32.const 3)) ;; "inc"
      (then
        (local.set $st (call $incr (i32.const 0x0040) (i32.const 5)))
        (if (local.get $st) (then (return (i32.const 1))))
        (i64.store (global.get $HITS)
          (i64.add (i64.load (global.get $HITS)) (i64.const 1)))
        (call $send_u64 (local.get $conn) (i64.load (global.get $VAL)))
        (return (i32.const 0))))

    (if (call $is (local.get $len) (i32.const 0x0054) (i32.const 3)) ;; "get"
      (then
        (if (call $load (i32.const 0x0040) (i32.const 5)) (then (return (i32.const 1))))
        (call $send_u64 (local.get $conn) (i64.load (global.get $VAL)))
        (return (i32.const 0))))

    (if (call $is (local.get $len) (i32.const 0x0058) (i32.const 4)) ;; "hits"
      (then
        (call $send_u64 (local.get $conn) (i64.load (global.get $HITS)))
        (return (i32.const 0))))

    (if (call $is (local.get $len) (i32.const 0x005c) (i32.const 4)) ;; "trap"
      (then
        (drop (call $incr (i32.const 0x0040) (i32.const 5)))
        (call $send_text (local.get $conn) (i32.const 0x0080) (i32.const 8))
        unreachable))

    (if (call $is (local.get $len) (i32.const 0x0060) (i32.const 5)) ;; "alarm"
      (then
        ;; clock 0 = realtime, in ns since the Unix epoch
        (if (call $clock_time_get (i32.const 0) (i64.const 1000) (global.get $CLOCK))
          (then (return (i32.const 1))))
        (if (call $alarm_set
              (i64.add
                (i64.div_u (i64.load (global.get $CLOCK)) (i64.const 1000000))
                (i64.const 50)))
          (then (return (i32.const 1))))
        (call $send_text (local.get $conn) (i32.const 0x0090) (i32.const 9))
        (return (i32.const 0))))

    (if (call $is (local.get $len) (i32.const 0x0068) (i32.const 6)) ;; "alarms"
      (then
        (if (call $load (i32.const 0x0048) (i32.const 6)) (then (return (i32.const 1))))
        (call $send_u64 (local.get $conn) (i64.load (global.get $VAL)))
        (return (i32.const 0))))

    (call $send_text (local.get $conn) (i32.const 0x00b0) (i32.const 15))
    (i32.const 0))

  (func (export "torpor_on_alarm") (param $retry i32) (result i32)
    (if (call $incr (i32.const 0x0048) (i32.const 6)) (then (return (i32.const 1))))
    ;; text "alarm" to every connection: except = 0 (none), no tag
    (drop (call $broadcast (i32.const 1) (i32.const 0x00a0) (i32.const 5)
      (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.const 0))

  (func (export "torpor_snapshot") (result i32)
    (i32.ne (call $reply (global.get $HITS) (i32.const 8)) (i32.const 0)))

  (func (export "torpor_restore") (param $len i32) (result i32)
    (i64.store (global.get $HITS) (i64.const 0))
    (if (i32.eq (local.get $len) (i32.const 8))
      (then
        (return (i32.ne (call $event_read (global.get $HITS) (i32.const 8)) (i32.const 0)))))
    (i32.const 0))
)
