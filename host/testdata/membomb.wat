;; membomb.wat: a handler that takes all the memory it can, for the memory
;; pages limit.
;;
;; torpor_on_message grows linear memory by 16 pages at a time until
;; memory.grow returns -1 (the host's page limit, default 1024 pages), then
;; sends the text "limited" to the sender and returns 0. A failed memory.grow
;; is an ordinary result, not a fault: the event succeeds, the frame arrives,
;; and memory.size is at most the limit. The memory has no declared maximum, so
;; only the host's limit stops it.
(module
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0x0000) "limited")

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    (drop (call $send (local.get $conn) (i32.const 1) (i32.const 0) (i32.const 7)))
    (i32.const 0))
)
