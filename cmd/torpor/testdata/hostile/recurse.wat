;; recurse.wat: a message handler that recurses without end.
;;
;; Every frame calls $down, which calls itself with a few locals per frame and
;; never returns: the guest's call stack grows until the runtime gives up
;; (wazero 1.12 doubles its stack up to about 80 MiB before it reports a stack
;; overflow). The event traps; repeated traps mark the object failed. The
;; stack is memory no page limit covers, so only a host-wide budget bounds
;; several of these at once.
(module
  (memory (export "memory") 1)

  (func $down (param $depth i64) (result i64)
    (local $next i64) (local $a i64) (local $b i64)
    (local.set $next (i64.add (local.get $depth) (i64.const 1)))
    (local.set $a (call $down (local.get $next)))
    (i64.add (local.get $a) (local.get $b)))

  (func (export "torpor_abi_version") (result i32)
    (i32.const 0x00010000))

  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (drop (call $down (i64.const 0)))
    (i32.const 0))
)
