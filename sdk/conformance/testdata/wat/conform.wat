;; conform.wat: the hand-written WAT conformance room (torpor ABI v1.1).
;;
;; Protocol: sdk/conformance/PROTOCOL.md; every number little-endian, "item"
;; is the ABI's list item (u32 length, bytes).
;;   connect  the :query value of the request info decides:
;;              "t" + list   conn_set_tags(list as given), then accept
;;              "r" + 3 digits  refuse with that status, reply = whole query
;;              "f"          fail the event (return 1)
;;              else         accept (empty query included)
;;            an accepted connection is sent binary "H", tag status (u8)
;;   text     echoed to the sender as text
;;   binary   a sequence of commands: item(opcode u8), then its argument
;;            items; after each command's call the sender gets binary
;;            "R", opcode, status, then the result bytes when status is 0.
;;            The whole frame is parsed before anything runs, so a frame
;;            that fails to parse (a short item, an opcode item that is not
;;            one byte, an unknown opcode, missing arguments) fails the event
;;            having called nothing (not even log).
;;   other    frame kinds are ignored
;;   close    broadcast binary "C", code u32, conn u64, reason
;;   alarm    storage "alarm-fail" (u32, absent 0): retry below it fails the
;;            event; else storage "alarms" (u64) += 1 and broadcast binary
;;            "A", retry u32
;;   state    the bytes of the last "remember"; the snapshot is exactly those
;;            bytes, restore takes them back as they are. STATE holds more
;;            than a frame of the default limit can carry; a "remember" over
;;            it fails the event and a snapshot over it (not one of ours) is
;;            ignored
;;
;; Opcodes (argument sizes: conn/i64 8, u32 4, * any; conn 0 = the sender,
;; except broadcast's "except", passed as it is, 0 meaning none). Like the Go
;; room, a number argument of another size is read leniently: a shorter one
;; zero-extended, a longer one cut to its first bytes.
;;    1 send conn,u32,*      2 broadcast u32,*,conn,*   3 close conn,u32,*
;;    4 attach conn,*        5 attached conn            6 conns *
;;    7 put *,*              8 get *                    9 delete *
;;   10 list *,*,u32        11 alarm i64               12 alarm?
;;   13 unalarm             14 auto *,*                15 remember *
;;   16 recall              17 id                      18 whoami
;;   19 log u32,*           20 fail                    21 trap
;;   22 big u32,u32         23 tags *
;;
;; Failing events return 1; "trap" executes unreachable. The status of a
;; frame the room sends on its own account ("H", "R", "C", "A") is ignored
;; (a refused echo fails the event): those frames are best effort, and a reply that is over the frame
;; limit (a list of big values) must not undo the call it reports.
;;
;; Memory map (all multi-byte values unaligned, as the ABI allows):
;;   0x00000  u32   len_out of every output call
;;   0x00008  ARGS  argument slots of the current command, 4 x (ptr, len)
;;   0x00030  u64   NUM: a number argument, zero-extended
;;   0x00040  u64   VAL: scratch for storage values read or written
;;   0x00048  "alarm-fail"     0x00058 "alarms"     0x00060 ":query"
;;   0x00080  ARITY the number of argument items of each opcode, a byte each
;;   0x00100  FRAME the small frames "H" (2 bytes) and "A" (5 bytes)
;;   0x10000  STATE the in-memory state, STATE_CAP = 1 MiB + 64 KiB (more
;;                  than a "remember" in a frame of the default 1 MiB limit)
;;   0x120000 MSG   the event data of the current event, to the end of the
;;                  memory (grown to fit: request info, frames up to the
;;                  frame limit, close reasons)
;;   $out     OUT   from MSG + event data (16-aligned) to the end of memory:
;;                  a reply is built at OUT ("R", op, status) with the result
;;                  written straight after it at OUT+3 by the host, so a
;;                  reply needs no copy. Output calls get all memory from
;;                  OUT+3 to the end as their cap; on BufferTooSmall the
;;                  memory is grown to the length the host reported and the
;;                  call repeated. "big" zero-fills OUT for its frame.
;; Initial memory is 40 pages (2.5 MiB): a 1 MiB frame still leaves OUT
;; 64 KiB of scratch and 320 KiB of results (a 128 KiB storage value fits)
;; without growing. Larger results (a list of big values, a big frame after
;; a big frame) grow it, up to the host's memory limit; memory grown for
;; one event stays for the instance's later ones.
(module
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "torpor_v1" "reply" (func $reply (param i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "broadcast" (func $broadcast (param i32 i32 i32 i64 i32 i32) (result i32)))
  (import "torpor_v1" "close" (func $close (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "conn_set_tags" (func $conn_set_tags (param i64 i32 i32) (result i32)))
  (import "torpor_v1" "conn_list" (func $conn_list (param i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "attachment_get" (func $attachment_get (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "attachment_set" (func $attachment_set (param i64 i32 i32) (result i32)))
  (import "torpor_v1" "storage_get" (func $storage_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_put" (func $storage_put (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "storage_delete" (func $storage_delete (param i32 i32) (result i32)))
  (import "torpor_v1" "storage_list"
    (func $storage_list (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "alarm_set" (func $alarm_set (param i64) (result i32)))
  (import "torpor_v1" "alarm_get" (func $alarm_get (param i32) (result i32)))
  (import "torpor_v1" "alarm_cancel" (func $alarm_cancel (result i32)))
  (import "torpor_v1" "auto_response_set" (func $auto_response_set (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "torpor_v1" "object_id" (func $object_id (param i32 i32 i32) (result i32)))

  (memory (export "memory") 40)

  (global $LEN_OUT      i32 (i32.const 0x00000))
  (global $ARGS         i32 (i32.const 0x00008))
  (global $VAL          i32 (i32.const 0x00040))
  (global $K_ALARM_FAIL i32 (i32.const 0x00048))
  (global $K_ALARMS     i32 (i32.const 0x00058))
  (global $K_QUERY      i32 (i32.const 0x00060))
  (global $NUM          i32 (i32.const 0x00030))
  (global $ARITY        i32 (i32.const 0x00080))
  (global $FRAME        i32 (i32.const 0x00100))
  (global $STATE        i32 (i32.const 0x10000))
  (global $STATE_CAP    i32 (i32.const 0x110000))
  (global $MSG          i32 (i32.const 0x120000))
  ;; Scratch kept past the event data, so that the reply header and the
  ;; fixed-size results (alarm?, whoami) always fit at OUT.
  (global $SCRATCH      i32 (i32.const 0x10000))

  (global $state_len (mut i32) (i32.const 0))
  (global $sender    (mut i64) (i64.const 0))
  (global $out       (mut i32) (i32.const 0))
  (global $op        (mut i32) (i32.const 0))

  (data (i32.const 0x00048) "alarm-fail")
  (data (i32.const 0x00058) "alarms")
  (data (i32.const 0x00060) ":query")
  ;; ARITY: opcode n at 0x80 + n.
  (data (i32.const 0x00080)
    "\00"   ;;  0 (not an opcode)
    "\03"   ;;  1 send      conn, kind u32, payload
    "\04"   ;;  2 broadcast kind u32, payload, except conn, tag
    "\03"   ;;  3 close     conn, code u32, reason
    "\02"   ;;  4 attach    conn, bytes
    "\01"   ;;  5 attached  conn
    "\01"   ;;  6 conns     tag
    "\02"   ;;  7 put       key, value
    "\01"   ;;  8 get       key
    "\01"   ;;  9 delete    key
    "\03"   ;; 10 list      prefix, after, limit u32
    "\01"   ;; 11 alarm     at i64
    "\00"   ;; 12 alarm?
    "\00"   ;; 13 unalarm
    "\02"   ;; 14 auto      request, response
    "\01"   ;; 15 remember  bytes
    "\00"   ;; 16 recall
    "\00"   ;; 17 id
    "\00"   ;; 18 whoami
    "\02"   ;; 19 log       level u32, text
    "\00"   ;; 20 fail
    "\00"   ;; 21 trap
    "\02"   ;; 22 big       kind u32, size u32
    "\01")  ;; 23 tags      list

  ;; The output calls, indexed for $out_call; each takes (buf, cap), reads
  ;; its arguments from ARGS and writes its length to LEN_OUT.
  (type $outfn (func (param i32 i32) (result i32)))
  (table 5 funcref)
  (elem (i32.const 0) $w_attached $w_conns $w_get $w_list $w_id)
  (global $W_ATTACHED i32 (i32.const 0))
  (global $W_CONNS    i32 (i32.const 1))
  (global $W_GET      i32 (i32.const 2))
  (global $W_LIST     i32 (i32.const 3))
  (global $W_ID       i32 (i32.const 4))

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010001))

  ;; connect, close, alarm and state (1 | 2 | 4 | 8): all really implemented.
  (func (export "torpor_handlers") (result i32)
    (i32.const 15))

  ;; ---- memory -------------------------------------------------------------

  ;; $ensure grows the memory so that its size is at least end bytes (a
  ;; 64-bit value, so that no sum of addresses wraps). Returns 1 when the
  ;; memory is big enough, 0 when the host refused to grow it.
  (func $ensure (param $end i64) (result i32)
    (local $have i64)
    (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.le_u (local.get $end) (local.get $have)) (then (return (i32.const 1))))
    ;; beyond 4 GiB no 32-bit memory can reach
    (if (i64.gt_u (local.get $end) (i64.const 0x100000000)) (then (return (i32.const 0))))
    (i32.ne
      (memory.grow
        (i32.wrap_i64
          (i64.shr_u
            (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 0xffff))
            (i64.const 16))))
      (i32.const -1)))

  ;; $read copies the whole event data (len bytes) to MSG, growing memory
  ;; for it. Returns 0, or 1 when that failed.
  (func $read (param $len i32) (result i32)
    (if (i32.eqz (call $ensure
          (i64.add (i64.extend_i32_u (global.get $MSG)) (i64.extend_i32_u (local.get $len)))))
      (then (return (i32.const 1))))
    (i32.ne (call $event_read (global.get $MSG) (local.get $len)) (i32.const 0)))

  ;; $set_out places OUT after the end of the event data at MSG (len
  ;; bytes), 16-aligned, and makes sure SCRATCH bytes exist there. Returns 0,
  ;; or 1 when the memory could not be grown.
  (func $set_out (param $len i32) (result i32)
    (global.set $out
      (i32.and
        (i32.add (i32.add (global.get $MSG) (local.get $len)) (i32.const 15))
        (i32.const -16)))
    (i32.eqz (call $ensure
      (i64.add (i64.extend_i32_u (global.get $out)) (i64.extend_i32_u (global.get $SCRATCH))))))

  ;; $out_call makes output call w with buf = OUT+3 and every byte up to the
  ;; end of memory as cap. On BufferTooSmall it grows the memory to the
  ;; length the host wrote to LEN_OUT and calls again (the ABI promises the
  ;; same result within an event). Returns the call's status; on OK the
  ;; result is at OUT+3 and its length at LEN_OUT. BufferTooSmall comes back
  ;; only when the memory cannot grow enough.
  (func $out_call (param $w i32) (result i32)
    (local $buf i32) (local $cap i32) (local $st i32)
    (local.set $buf (i32.add (global.get $out) (i32.const 3)))
    (loop $again
      (local.set $cap
        (i32.wrap_i64
          (i64.sub
            (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16))
            (i64.extend_i32_u (local.get $buf)))))
      (local.set $st
        (call_indirect (type $outfn) (local.get $buf) (local.get $cap) (local.get $w)))
      ;; (a length that fits already would loop for ever: it is reported)
      (if (i32.and (i32.eq (local.get $st) (i32.const 5))
                   (i32.gt_u (i32.load (global.get $LEN_OUT)) (local.get $cap)))
        (then
          (if (call $ensure
                (i64.add (i64.extend_i32_u (local.get $buf))
                         (i64.extend_i32_u (i32.load (global.get $LEN_OUT)))))
            (then (br $again))))))
    (local.get $st))

  ;; ---- parsing ------------------------------------------------------------

  ;; $item reads the item at p (the range ends at end) into the (ptr, len)
  ;; slot at slot. Returns the offset of the next item, or -1 when fewer
  ;; than 4 bytes remain for the length or the length runs past end.
  (func $item (param $p i32) (param $end i32) (param $slot i32) (result i32)
    (local $n i32)
    (if (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 4))
      (then (return (i32.const -1))))
    (local.set $n (i32.load (local.get $p)))
    (if (i32.gt_u (local.get $n)
          (i32.sub (i32.sub (local.get $end) (local.get $p)) (i32.const 4)))
      (then (return (i32.const -1))))
    (i32.store (local.get $slot) (i32.add (local.get $p) (i32.const 4)))
    (i32.store offset=4 (local.get $slot) (local.get $n))
    (i32.add (i32.add (local.get $p) (i32.const 4)) (local.get $n)))

  ;; $command reads the command at p: its opcode item (exactly one byte, a
  ;; known opcode) into $op and its ARITY argument items into ARGS. Returns
  ;; the offset after it, or -1 when it does not parse.
  (func $command (param $p i32) (param $end i32) (result i32)
    (local $i i32) (local $n i32)
    (local.set $p (call $item (local.get $p) (local.get $end) (global.get $ARGS)))
    (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const -1))))
    (if (i32.ne (i32.load offset=4 (global.get $ARGS)) (i32.const 1))
      (then (return (i32.const -1))))
    (global.set $op (i32.load8_u (i32.load (global.get $ARGS))))
    (if (i32.or (i32.eqz (global.get $op)) (i32.gt_u (global.get $op) (i32.const 23)))
      (then (return (i32.const -1))))
    (local.set $n (i32.load8_u (i32.add (global.get $ARITY) (global.get $op))))
    (block $done
      (loop $arg
        (br_if $done (i32.eq (local.get $i) (local.get $n)))
        (local.set $p (call $item (local.get $p) (local.get $end)
          (i32.add (global.get $ARGS) (i32.shl (local.get $i) (i32.const 3)))))
        (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $arg)))
    (local.get $p))

  ;; Argument i of the current command: its range, and its value as a
  ;; little-endian number (zero-extended when short, cut when long).
  (func $ptr (param $i i32) (result i32)
    (i32.load (i32.add (global.get $ARGS) (i32.shl (local.get $i) (i32.const 3)))))
  (func $len (param $i i32) (result i32)
    (i32.load offset=4 (i32.add (global.get $ARGS) (i32.shl (local.get $i) (i32.const 3)))))
  (func $i64 (param $i i32) (result i64)
    (local $n i32)
    (local.set $n (call $len (local.get $i)))
    (if (i32.gt_u (local.get $n) (i32.const 8)) (then (local.set $n (i32.const 8))))
    (i64.store (global.get $NUM) (i64.const 0))
    (memory.copy (global.get $NUM) (call $ptr (local.get $i)) (local.get $n))
    (i64.load (global.get $NUM)))
  (func $u32 (param $i i32) (result i32)
    (i32.wrap_i64 (call $i64 (local.get $i))))
  ;; a conn argument: 0 means the sender
  (func $conn (param $i i32) (result i64)
    (local $c i64)
    (local.set $c (call $i64 (local.get $i)))
    (if (result i64) (i64.eqz (local.get $c))
      (then (global.get $sender))
      (else (local.get $c))))

  ;; $eq reports whether the ranges (a, alen) and (b, blen) hold equal bytes.
  (func $eq (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $alen) (local.get $blen)) (then (return (i32.const 0))))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $alen)))
        (if (i32.ne
              (i32.load8_u (i32.add (local.get $a) (local.get $i)))
              (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (i32.const 1))

  ;; ---- the output calls ($out_call's table) -------------------------------

  (func $w_attached (type $outfn) (param $buf i32) (param $cap i32) (result i32)
    (call $attachment_get (call $conn (i32.const 0))
      (local.get $buf) (local.get $cap) (global.get $LEN_OUT)))
  (func $w_conns (type $outfn) (param $buf i32) (param $cap i32) (result i32)
    (call $conn_list (call $ptr (i32.const 0)) (call $len (i32.const 0))
      (local.get $buf) (local.get $cap) (global.get $LEN_OUT)))
  (func $w_get (type $outfn) (param $buf i32) (param $cap i32) (result i32)
    (call $storage_get (call $ptr (i32.const 0)) (call $len (i32.const 0))
      (local.get $buf) (local.get $cap) (global.get $LEN_OUT)))
  (func $w_list (type $outfn) (param $buf i32) (param $cap i32) (result i32)
    (call $storage_list
      (call $ptr (i32.const 0)) (call $len (i32.const 0))
      (call $ptr (i32.const 1)) (call $len (i32.const 1))
      (call $u32 (i32.const 2))
      (local.get $buf) (local.get $cap) (global.get $LEN_OUT)))
  (func $w_id (type $outfn) (param $buf i32) (param $cap i32) (result i32)
    (call $object_id (local.get $buf) (local.get $cap) (global.get $LEN_OUT)))

  ;; ---- commands -----------------------------------------------------------

  ;; $run runs the command $command just parsed (opcode $op, ARGS) and
  ;; sends the sender its reply. Returns 0, or 1 to fail the event.
  (func $run (result i32)
    (local $st i32) (local $rlen i32) (local $size i32)
    (block $done
     (block $o23 (block $o22 (block $o21 (block $o20 (block $o19 (block $o18
     (block $o17 (block $o16 (block $o15 (block $o14 (block $o13 (block $o12
     (block $o11 (block $o10 (block $o9 (block $o8 (block $o7 (block $o6
     (block $o5 (block $o4 (block $o3 (block $o2 (block $o1 (block $o0
       (br_table $o0 $o1 $o2 $o3 $o4 $o5 $o6 $o7 $o8 $o9 $o10 $o11 $o12
                 $o13 $o14 $o15 $o16 $o17 $o18 $o19 $o20 $o21 $o22 $o23
                 (global.get $op)))
      ;; 0: $command never lets it through
      unreachable)
     ;; 1 send conn, kind, payload
     (local.set $st (call $send (call $conn (i32.const 0)) (call $u32 (i32.const 1))
       (call $ptr (i32.const 2)) (call $len (i32.const 2))))
     (br $done))
     ;; 2 broadcast kind, payload, except, tag: except goes as it is (0 =
     ;; none), an empty tag is no filter
     (local.set $st (call $broadcast (call $u32 (i32.const 0))
       (call $ptr (i32.const 1)) (call $len (i32.const 1))
       (call $i64 (i32.const 2))
       (call $ptr (i32.const 3)) (call $len (i32.const 3))))
     (br $done))
     ;; 3 close conn, code, reason
     (local.set $st (call $close (call $conn (i32.const 0)) (call $u32 (i32.const 1))
       (call $ptr (i32.const 2)) (call $len (i32.const 2))))
     (br $done))
     ;; 4 attach conn, bytes
     (local.set $st (call $attachment_set (call $conn (i32.const 0))
       (call $ptr (i32.const 1)) (call $len (i32.const 1))))
     (br $done))
     ;; 5 attached conn
     (local.set $st (call $out_call (global.get $W_ATTACHED)))
     (local.set $rlen (i32.load (global.get $LEN_OUT)))
     (br $done))
     ;; 6 conns tag
     (local.set $st (call $out_call (global.get $W_CONNS)))
     (local.set $rlen (i32.load (global.get $LEN_OUT)))
     (br $done))
     ;; 7 put key, value
     (local.set $st (call $storage_put
       (call $ptr (i32.const 0)) (call $len (i32.const 0))
       (call $ptr (i32.const 1)) (call $len (i32.const 1))))
     (br $done))
     ;; 8 get key
     (local.set $st (call $out_call (global.get $W_GET)))
     (local.set $rlen (i32.load (global.get $LEN_OUT)))
     (br $done))
     ;; 9 delete key
     (local.set $st (call $storage_delete (call $ptr (i32.const 0)) (call $len (i32.const 0))))
     (br $done))
     ;; 10 list prefix, after, limit
     (local.set $st (call $out_call (global.get $W_LIST)))
     (local.set $rlen (i32.load (global.get $LEN_OUT)))
     (br $done))
     ;; 11 alarm at
     (local.set $st (call $alarm_set (call $i64 (i32.const 0))))
     (br $done))
     ;; 12 alarm?: the time lands at OUT+3 (SCRATCH holds it)
     (local.set $st (call $alarm_get (i32.add (global.get $out) (i32.const 3))))
     (local.set $rlen (i32.const 8))
     (br $done))
     ;; 13 unalarm
     (local.set $st (call $alarm_cancel))
     (br $done))
     ;; 14 auto request, response
     (local.set $st (call $auto_response_set
       (call $ptr (i32.const 0)) (call $len (i32.const 0))
       (call $ptr (i32.const 1)) (call $len (i32.const 1))))
     (br $done))
     ;; 15 remember bytes: only a frame over the default limit could bring
     ;; more than STATE holds; fail rather than keep part of it
     (if (i32.gt_u (call $len (i32.const 0)) (global.get $STATE_CAP))
       (then (return (i32.const 1))))
     (memory.copy (global.get $STATE) (call $ptr (i32.const 0)) (call $len (i32.const 0)))
     (global.set $state_len (call $len (i32.const 0)))
     (br $done))
     ;; 16 recall: the state, copied after the reply header
     (if (i32.eqz (call $ensure
           (i64.add (i64.extend_i32_u (i32.add (global.get $out) (i32.const 3)))
                    (i64.extend_i32_u (global.get $state_len)))))
       (then (return (i32.const 1))))
     (memory.copy (i32.add (global.get $out) (i32.const 3)) (global.get $STATE)
       (global.get $state_len))
     (local.set $rlen (global.get $state_len))
     (br $done))
     ;; 17 id
     (local.set $st (call $out_call (global.get $W_ID)))
     (local.set $rlen (i32.load (global.get $LEN_OUT)))
     (br $done))
     ;; 18 whoami: the sender's id, from SCRATCH
     (i64.store (i32.add (global.get $out) (i32.const 3)) (global.get $sender))
     (local.set $rlen (i32.const 8))
     (br $done))
     ;; 19 log level, text
     (local.set $st (call $log (call $u32 (i32.const 0))
       (call $ptr (i32.const 1)) (call $len (i32.const 1))))
     (br $done))
     ;; 20 fail: no reply, the event fails
     (return (i32.const 1)))
     ;; 21 trap
     unreachable)
     ;; 22 big kind, size: size zero bytes from OUT. When the memory cannot
     ;; grow that far the send goes ahead anyway and the host says Bounds.
     (local.set $size (call $u32 (i32.const 1)))
     (if (call $ensure (i64.add (i64.extend_i32_u (global.get $out))
                                (i64.extend_i32_u (local.get $size))))
       (then (memory.fill (global.get $out) (i32.const 0) (local.get $size))))
     (local.set $st (call $send (global.get $sender) (call $u32 (i32.const 0))
       (global.get $out) (local.get $size)))
     (br $done))
    ;; 23 tags list, on the sender (outside connect the host says BadState)
    (local.set $st (call $conn_set_tags (global.get $sender)
      (call $ptr (i32.const 0)) (call $len (i32.const 0)))))

    ;; the reply: "R", opcode, status, the result when the status is OK
    (i32.store8 (global.get $out) (i32.const 0x52))
    (i32.store8 offset=1 (global.get $out) (global.get $op))
    (i32.store8 offset=2 (global.get $out) (local.get $st))
    (if (local.get $st) (then (local.set $rlen (i32.const 0))))
    (drop (call $send (global.get $sender) (i32.const 2)
      (global.get $out) (i32.add (i32.const 3) (local.get $rlen))))
    (i32.const 0))

  ;; ---- handlers -----------------------------------------------------------

  (func (export "torpor_on_connect") (param $conn i64) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $q i32) (local $qlen i32) (local $st i32)
    (local $c i32)
    (if (call $read (local.get $len)) (then (return (i32.const 1))))
    ;; Walk the pairs for :query (the second pair, but a walk costs little
    ;; and does not depend on the order). Slot 0 = key, slot 1 = value.
    (local.set $p (global.get $MSG))
    (local.set $end (i32.add (global.get $MSG) (local.get $len)))
    (block $found
      (loop $pair
        (br_if $found (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $p (call $item (local.get $p) (local.get $end) (global.get $ARGS)))
        (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const 1))))
        (local.set $p (call $item (local.get $p) (local.get $end)
          (i32.add (global.get $ARGS) (i32.const 8))))
        (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const 1))))
        (if (call $eq (call $ptr (i32.const 0)) (call $len (i32.const 0))
                      (global.get $K_QUERY) (i32.const 6))
          (then
            (local.set $q (call $ptr (i32.const 1)))
            (local.set $qlen (call $len (i32.const 1)))
            (br $found)))
        (br $pair)))

    (if (local.get $qlen)
      (then
        (local.set $c (i32.load8_u (local.get $q)))
        ;; "t" + list: the tags, exactly the bytes after "t"
        (if (i32.eq (local.get $c) (i32.const 0x74))
          (then
            (local.set $st (call $conn_set_tags (local.get $conn)
              (i32.add (local.get $q) (i32.const 1))
              (i32.sub (local.get $qlen) (i32.const 1))))))
        ;; "r" + three digits: refuse with that status, the query as reason
        (if (i32.and
              (i32.and (i32.eq (local.get $c) (i32.const 0x72))
                       (i32.eq (local.get $qlen) (i32.const 4)))
              (i32.and
                (i32.and
                  (i32.lt_u (i32.sub (i32.load8_u offset=1 (local.get $q)) (i32.const 0x30)) (i32.const 10))
                  (i32.lt_u (i32.sub (i32.load8_u offset=2 (local.get $q)) (i32.const 0x30)) (i32.const 10)))
                (i32.lt_u (i32.sub (i32.load8_u offset=3 (local.get $q)) (i32.const 0x30)) (i32.const 10))))
          (then
            (drop (call $reply (local.get $q) (local.get $qlen)))
            (return
              (i32.add
                (i32.add
                  (i32.mul (i32.sub (i32.load8_u offset=1 (local.get $q)) (i32.const 0x30)) (i32.const 100))
                  (i32.mul (i32.sub (i32.load8_u offset=2 (local.get $q)) (i32.const 0x30)) (i32.const 10)))
                (i32.sub (i32.load8_u offset=3 (local.get $q)) (i32.const 0x30))))))
        ;; "f": fail the event
        (if (i32.and (i32.eq (local.get $c) (i32.const 0x66))
                     (i32.eq (local.get $qlen) (i32.const 1)))
          (then (return (i32.const 1))))))

    ;; accepted: "H", the tag status; the gateway delivers it after the upgrade
    (i32.store8 (global.get $FRAME) (i32.const 0x48))
    (i32.store8 offset=1 (global.get $FRAME) (local.get $st))
    (drop (call $send (local.get $conn) (i32.const 2) (global.get $FRAME) (i32.const 2)))
    (i32.const 0))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (global.set $sender (local.get $conn))
    (if (i32.and (i32.ne (local.get $kind) (i32.const 1)) (i32.ne (local.get $kind) (i32.const 2)))
      (then (return (i32.const 0)))) ;; a kind from a later ABI: ignored
    (if (call $read (local.get $len)) (then (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then
        ;; an echo the host refuses (text that is not UTF-8) fails the
        ;; event, as in the Go room
        (return (i32.ne
          (call $send (local.get $conn) (i32.const 1) (global.get $MSG) (local.get $len))
          (i32.const 0)))))

    (if (call $set_out (local.get $len)) (then (return (i32.const 1))))
    (local.set $end (i32.add (global.get $MSG) (local.get $len)))
    ;; First pass: the whole frame must parse before any command runs.
    (local.set $p (global.get $MSG))
    (block $parsed
      (loop $check
        (br_if $parsed (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $p (call $command (local.get $p) (local.get $end)))
        (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const 1))))
        (br $check)))
    ;; Second pass: run them in order, each reply after its call.
    (local.set $p (global.get $MSG))
    (block $ran
      (loop $next
        (br_if $ran (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $p (call $command (local.get $p) (local.get $end)))
        (if (call $run) (then (return (i32.const 1))))
        (br $next)))
    (i32.const 0))

  (func (export "torpor_on_close") (param $conn i64) (param $code i32) (param $len i32) (result i32)
    ;; "C", code, conn, then the reason read straight after them
    (if (i32.eqz (call $ensure
          (i64.add (i64.extend_i32_u (global.get $MSG))
                   (i64.add (i64.const 13) (i64.extend_i32_u (local.get $len))))))
      (then (return (i32.const 1))))
    (i32.store8 (global.get $MSG) (i32.const 0x43))
    (i32.store offset=1 (global.get $MSG) (local.get $code))
    (i64.store offset=5 (global.get $MSG) (local.get $conn))
    (if (call $event_read (i32.add (global.get $MSG) (i32.const 13)) (local.get $len))
      (then (return (i32.const 1))))
    ;; the closed connection has left the table: no need to except it
    (drop (call $broadcast (i32.const 2) (global.get $MSG)
      (i32.add (i32.const 13) (local.get $len)) (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.const 0))

  ;; $load_num reads the value under the key (key, klen) as a little-endian
  ;; number of up to 8 bytes into VAL: absent is 0, a shorter value is
  ;; zero-extended, a longer one is cut. Returns 0, or the failing status.
  (func $load_num (param $key i32) (param $klen i32) (result i32)
    (local $st i32) (local $n i32)
    (i32.store (global.get $ARGS) (local.get $key))
    (i32.store offset=4 (global.get $ARGS) (local.get $klen))
    (i64.store (global.get $VAL) (i64.const 0))
    (local.set $st (call $out_call (global.get $W_GET)))
    (if (i32.eq (local.get $st) (i32.const 2)) (then (return (i32.const 0))))
    (if (local.get $st) (then (return (local.get $st))))
    (local.set $n (i32.load (global.get $LEN_OUT)))
    (if (i32.gt_u (local.get $n) (i32.const 8)) (then (local.set $n (i32.const 8))))
    (memory.copy (global.get $VAL) (i32.add (global.get $out) (i32.const 3)) (local.get $n))
    (i32.const 0))

  (func (export "torpor_on_alarm") (param $retry i32) (result i32)
    (if (call $set_out (i32.const 0)) (then (return (i32.const 1))))
    ;; alarm-fail is a u32: only its low 4 bytes count
    (if (call $load_num (global.get $K_ALARM_FAIL) (i32.const 10)) (then (return (i32.const 1))))
    (if (i32.lt_u (local.get $retry) (i32.load (global.get $VAL)))
      (then (return (i32.const 1))))
    (if (call $load_num (global.get $K_ALARMS) (i32.const 6)) (then (return (i32.const 1))))
    (i64.store (global.get $VAL) (i64.add (i64.load (global.get $VAL)) (i64.const 1)))
    (if (call $storage_put (global.get $K_ALARMS) (i32.const 6) (global.get $VAL) (i32.const 8))
      (then (return (i32.const 1))))
    (i32.store8 (global.get $FRAME) (i32.const 0x41))
    (i32.store offset=1 (global.get $FRAME) (local.get $retry))
    (drop (call $broadcast (i32.const 2) (global.get $FRAME) (i32.const 5)
      (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.const 0))

  (func (export "torpor_snapshot") (result i32)
    (i32.ne (call $reply (global.get $STATE) (global.get $state_len)) (i32.const 0)))

  ;; The snapshot is the state exactly. One larger than STATE holds was not
  ;; written by this room: ignored, as the ABI asks of unparseable snapshots.
  (func (export "torpor_restore") (param $len i32) (result i32)
    (global.set $state_len (i32.const 0))
    (if (i32.gt_u (local.get $len) (global.get $STATE_CAP)) (then (return (i32.const 0))))
    (if (call $event_read (global.get $STATE) (local.get $len)) (then (return (i32.const 1))))
    (global.set $state_len (local.get $len))
    (i32.const 0))
)
