;; badptr.wat: every torpor_v1 import that takes a pointer must answer an
;; out-of-range (pointer, length) with Bounds (1), never trap and never touch
;; memory.
;;
;; On any message, torpor_on_message makes the 30 calls below, each with exactly
;; one bad range and every other argument valid, stores each returned status as
;; one byte at 0x0100 + index, and then sends those 30 bytes to the sender as
;; one binary frame (a valid send). The test asserts that every byte is 1.
;; The calls run in a message event, so imports that are not allowed there
;; (reply, conn_set_tags) check that bounds come before the event check; the
;; key "k" does not exist, so storage_get checks that bounds come before
;; NotFound.
;;
;; Memory is exactly one page (min 1, max 1) so the ranges below are out of
;; range in a known way:
;;   W  = ptr 0xFFFFFFF0, len 0x20: wraps past 2^32; a host that adds in 32
;;        bits sees the end at 0x10 and thinks it is in range
;;   S  = ptr 0x0000FFF0, len 0x20: straddles the end of memory (0x10000)
;;   F  = ptr 0x00010000, len 0x20: starts exactly at the end of memory
;;   LO = len_out 0x0000FFFE: the u32 straddles the end of memory
;;   OW = out_ptr 0xFFFFFFFC: the i64 wraps past 2^32
;;   OS = out_ptr 0x0000FFFC: the i64 straddles the end of memory
;; Valid ranges: "k" at 0x0200 (1 byte; data, key, tag, prefix, value),
;; len_out at 0x0300, output buffer 0x0400 with cap 0x100.
;;
;; Byte  Call (bad argument in capitals)
;; -- one byte per import, its first pointer argument bad --
;;   0   event_read(W)
;;   1   reply(W)
;;   2   send(conn, text, W)
;;   3   broadcast(text, W, except 0, no tag)
;;   4   close(conn, 1000, REASON=W)
;;   5   conn_set_tags(conn, W)
;;   6   conn_list(TAG=W, buf, cap, len_out)
;;   7   attachment_get(conn, BUF=W, cap 0x20, len_out)
;;   8   attachment_set(conn, W)
;;   9   storage_get(KEY=W, buf, cap, len_out)
;;  10   storage_put(KEY=W, "k")
;;  11   storage_delete(W)
;;  12   storage_list(PREFIX=W, no after, limit 0, buf, cap, len_out)
;;  13   alarm_get(OW)
;;  14   auto_response_set(REQ=W, "k")
;;  15   log(info, W)
;;  16   object_id(BUF=W, cap 0x20, len_out)
;; -- a later input range bad --
;;  17   broadcast(text, "k", except 0, TAG=S)
;;  18   storage_put("k", VALUE=S)
;;  19   storage_list("k", AFTER=S, limit 0, buf, cap, len_out)
;;  20   auto_response_set("k", RESP=S)
;; -- the output buffer bad --
;;  21   conn_list(no tag, BUF=F, cap 0x20, len_out)
;;  22   storage_get("k", BUF=F, cap 0x20, len_out)
;;  23   storage_list("k", no after, limit 0, BUF=F, cap 0x20, len_out)
;; -- len_out / out_ptr bad, every input range valid --
;;  24   conn_list(no tag, buf, cap, LO)
;;  25   attachment_get(conn, buf, cap, LO)
;;  26   storage_get("k", buf, cap, LO)
;;  27   storage_list("k", no after, limit 0, buf, cap, LO)
;;  28   object_id(buf, cap, LO)
;;  29   alarm_get(OS)
;; ("no tag" / "no after" is (0, 0); alarm_set and alarm_cancel take no pointer.)
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
  (import "torpor_v1" "storage_list" (func $storage_list (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "alarm_get" (func $alarm_get (param i32) (result i32)))
  (import "torpor_v1" "auto_response_set" (func $auto_response_set (param i32 i32 i32 i32) (result i32)))
  (import "torpor_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "torpor_v1" "object_id" (func $object_id (param i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 0x0200) "k")

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    ;; -- one byte per import, first pointer argument bad (W = 0xFFFFFFF0, 0x20) --
    (i32.store8 (i32.const 0x0100)
      (call $event_read (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0101)
      (call $reply (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0102)
      (call $send (local.get $conn) (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0103)
      (call $broadcast (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.store8 (i32.const 0x0104)
      (call $close (local.get $conn) (i32.const 1000) (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0105)
      (call $conn_set_tags (local.get $conn) (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0106)
      (call $conn_list (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x0107)
      (call $attachment_get (local.get $conn)
        (i32.const 0xFFFFFFF0) (i32.const 0x20) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x0108)
      (call $attachment_set (local.get $conn) (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0109)
      (call $storage_get (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x010a)
      (call $storage_put (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i32.const 0x0200) (i32.const 1)))
    (i32.store8 (i32.const 0x010b)
      (call $storage_delete (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x010c)
      (call $storage_list (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x010d)
      (call $alarm_get (i32.const 0xFFFFFFFC)))
    (i32.store8 (i32.const 0x010e)
      (call $auto_response_set (i32.const 0xFFFFFFF0) (i32.const 0x20)
        (i32.const 0x0200) (i32.const 1)))
    (i32.store8 (i32.const 0x010f)
      (call $log (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0110)
      (call $object_id (i32.const 0xFFFFFFF0) (i32.const 0x20) (i32.const 0x0300)))

    ;; -- a later input range bad (S = 0xFFF0, 0x20) --
    (i32.store8 (i32.const 0x0111)
      (call $broadcast (i32.const 1) (i32.const 0x0200) (i32.const 1)
        (i64.const 0) (i32.const 0xFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0112)
      (call $storage_put (i32.const 0x0200) (i32.const 1)
        (i32.const 0xFFF0) (i32.const 0x20)))
    (i32.store8 (i32.const 0x0113)
      (call $storage_list (i32.const 0x0200) (i32.const 1)
        (i32.const 0xFFF0) (i32.const 0x20) (i32.const 0)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x0114)
      (call $auto_response_set (i32.const 0x0200) (i32.const 1)
        (i32.const 0xFFF0) (i32.const 0x20)))

    ;; -- the output buffer bad (F = 0x10000, 0x20) --
    (i32.store8 (i32.const 0x0115)
      (call $conn_list (i32.const 0) (i32.const 0)
        (i32.const 0x10000) (i32.const 0x20) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x0116)
      (call $storage_get (i32.const 0x0200) (i32.const 1)
        (i32.const 0x10000) (i32.const 0x20) (i32.const 0x0300)))
    (i32.store8 (i32.const 0x0117)
      (call $storage_list (i32.const 0x0200) (i32.const 1)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0x10000) (i32.const 0x20) (i32.const 0x0300)))

    ;; -- len_out / out_ptr bad (LO = 0xFFFE, OS = 0xFFFC) --
    (i32.store8 (i32.const 0x0118)
      (call $conn_list (i32.const 0) (i32.const 0)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0xFFFE)))
    (i32.store8 (i32.const 0x0119)
      (call $attachment_get (local.get $conn)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0xFFFE)))
    (i32.store8 (i32.const 0x011a)
      (call $storage_get (i32.const 0x0200) (i32.const 1)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0xFFFE)))
    (i32.store8 (i32.const 0x011b)
      (call $storage_list (i32.const 0x0200) (i32.const 1)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0x0400) (i32.const 0x100) (i32.const 0xFFFE)))
    (i32.store8 (i32.const 0x011c)
      (call $object_id (i32.const 0x0400) (i32.const 0x100) (i32.const 0xFFFE)))
    (i32.store8 (i32.const 0x011d)
      (call $alarm_get (i32.const 0xFFFC)))

    ;; The 30 statuses, as one binary frame to the sender.
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0x0100) (i32.const 30)))
    (i32.const 0))
)
