;; objhog.wat: a message handler that takes all the memory it may.
;;
;; The first frame to an object grows its memory until memory.grow fails (the
;; page limit, or whatever the host still grants), writes one word every
;; 4 KiB so that all of it is resident, and answers a binary frame of 4 bytes:
;; the memory size in 64 KiB pages, u32 little-endian. Many objects doing this
;; at once hold objects x limit bytes: each is within its own limit, and only
;; a host-wide budget stops the sum.
(module
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (func $grow_to_limit
    (local $n i32)
    (local.set $n (i32.const 32768))
    (block $done
      (loop $try
        (if (i32.eq (memory.grow (local.get $n)) (i32.const -1))
          (then
            (br_if $done (i32.le_u (local.get $n) (i32.const 1)))
            (local.set $n (i32.shr_u (local.get $n) (i32.const 1)))))
        (br $try))))

  (func $touch
    (local $p i32) (local $end i32)
    (local.set $end (i32.shl (memory.size) (i32.const 16)))
    (loop $page
      (i32.store (local.get $p) (i32.const 0x686f6721))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $page (i32.lt_u (local.get $p) (local.get $end)))))

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (call $grow_to_limit)
    (call $touch)
    (i32.store (i32.const 0) (memory.size))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0) (i32.const 4)))
    (i32.const 0))
)
