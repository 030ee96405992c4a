;; poolhog.wat: a start function that takes all the memory it may and makes
;; it resident.
;;
;; The start section runs on every instantiation, so every pre-initialised
;; instance the host keeps in a plugin's pool holds the full page limit
;; (--memory-pages), touched every 4 KiB so that the pages are really
;; resident, not just reserved. Several such plugins with the pool filled per
;; plugin hold pool size x plugins x limit bytes before any object runs:
;; memory no per-instance limit bounds, only a host-wide budget.
(module
  (memory (export "memory") 1)

  ;; $grow_to_limit grows memory until memory.grow fails, in halving steps,
  ;; so it needs no knowledge of the host's limit.
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

  ;; $touch writes one word every 4 KiB (an OS page) of the whole memory.
  (func $touch
    (local $p i32) (local $end i32)
    (local.set $end (i32.shl (memory.size) (i32.const 16)))
    (loop $page
      (i32.store (local.get $p) (i32.const 0x686f6721)) ;; "!goh"
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $page (i32.lt_u (local.get $p) (local.get $end)))))

  (func $hog
    (call $grow_to_limit)
    (call $touch))
  (start $hog)

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (i32.const 0))
)
