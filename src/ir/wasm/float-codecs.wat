;; SIMD kernels for float32 -> float16 / bfloat16, bit-identical to the JavaScript encoders of src/ir/float-codecs.ts
;; (round to nearest even on the bits, saturation to the largest finite value, quiet NaN, the same counts).
;; Assembled by `npm run build:wasm` (wabt) into float-codecs.wasm.ts; test/ir/wasm-codecs.test.ts checks that the
;; committed bytes are what this text assembles to, and compares every kernel with the JavaScript reference.
;;
;; Memory layout, fixed (the memory never grows, so views made once stay valid):
;;   [0, 16)                  counts: i32 clamped, flushed, nan, nonzero (added to, never reset here)
;;   [65536, 65536 + 4 MiB)   input: up to 2^20 float32 values
;;   [65536 + 4 MiB, + 2 MiB) output: up to 2^20 16-bit values
;; Every kernel takes (src, dst, n) or (src, n), byte addresses, n a multiple of 4 (the caller does the tail).
;; Comparisons give lanes of -1 where true, so subtracting a mask from an accumulator counts. The hot loops call no
;; function (V8 does not inline WebAssembly calls: a helper per step cost a fifth of the time).
(module
  (memory (export "memory") 97)

  ;; ---------------------------------------------------------------------------------------------- float16
  (func (export "f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $b v128) (local $abs v128) (local $h v128)
    (local $big v128) (local $special v128) (local $nan v128)
    (local $cl v128) (local $fl v128) (local $na v128) (local $nz v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $b (v128.load (local.get $src)))
        (local.set $abs (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        ;; normal range: rebias the exponent (r = abs - (112 << 23)), round the low 13 bits to nearest even
        (local.set $h (i32x4.sub (local.get $abs) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)))
        (local.set $h
          (i32x4.shr_u
            (i32x4.add
              (i32x4.add (local.get $h) (v128.const i32x4 0xfff 0xfff 0xfff 0xfff))
              (v128.and (i32x4.shr_u (local.get $h) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
            (i32.const 13)))
        ;; below 2^-14 (subnormal half or zero): abs + 0.5f is exact up to its ulp 2^-24 and the float addition
        ;; rounds to nearest even, so its bits minus those of 0.5f are the subnormal half's bits
        (local.set $h
          (v128.bitselect
            (i32x4.sub
              (f32x4.add (local.get $abs) (v128.const f32x4 0.5 0.5 0.5 0.5))
              (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
            (local.get $h)
            (i32x4.lt_u (local.get $abs) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
        ;; beyond 65504: saturate; infinity; NaN (quiet, top payload bits kept)
        (local.set $big (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x477fe000 0x477fe000 0x477fe000 0x477fe000)))
        (local.set $special (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f7fffff 0x7f7fffff 0x7f7fffff 0x7f7fffff)))
        (local.set $nan (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
        (local.set $h (v128.bitselect (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff) (local.get $h) (local.get $big)))
        (local.set $h (v128.bitselect (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00) (local.get $h) (local.get $special)))
        (local.set $h
          (v128.bitselect
            (v128.or
              (v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00)
              (v128.and (i32x4.shr_u (local.get $abs) (i32.const 13)) (v128.const i32x4 0x3ff 0x3ff 0x3ff 0x3ff)))
            (local.get $h) (local.get $nan)))
        (local.set $h
          (v128.or (local.get $h)
            (v128.and (i32x4.shr_u (local.get $b) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
        (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $h) (local.get $h)))
        ;; counts
        (local.set $cl (i32x4.sub (local.get $cl) (v128.andnot (local.get $big) (local.get $special))))
        (local.set $fl (i32x4.sub (local.get $fl) 
          ;; flushed: 0 < abs <= 2^-25 (2^-25 itself is a tie, to the even zero), as abs - 1 < 2^-25 unsigned
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 1 1 1 1))
            (v128.const i32x4 0x33000000 0x33000000 0x33000000 0x33000000))))
        (local.set $na (i32x4.sub (local.get $na) (local.get $nan)))
        (local.set $nz (i32x4.sub (local.get $nz) (i32x4.ne (local.get $abs) (v128.const i32x4 0 0 0 0))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $next)))
    (call $addCounts (local.get $cl) (local.get $fl) (local.get $na) (local.get $nz)))

  ;; the counts of "f16" without the encoding (a first pass that decides before anything is written)
  (func (export "f16count") (param $src i32) (param $n i32)
    (local $end i32) (local $abs v128) (local $cl v128) (local $fl v128) (local $na v128) (local $nz v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $abs (v128.and (v128.load (local.get $src)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        ;; clamped: 0x477fe000 < abs < 0x7f800000, as (abs - 0x477fe001) < 0x7f800000 - 0x477fe001, unsigned
        (local.set $cl (i32x4.sub (local.get $cl)
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 0x477fe001 0x477fe001 0x477fe001 0x477fe001))
            (v128.const i32x4 0x38001fff 0x38001fff 0x38001fff 0x38001fff))))
        (local.set $fl (i32x4.sub (local.get $fl) 
          ;; flushed: 0 < abs <= 2^-25 (2^-25 itself is a tie, to the even zero), as abs - 1 < 2^-25 unsigned
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 1 1 1 1))
            (v128.const i32x4 0x33000000 0x33000000 0x33000000 0x33000000))))
        (local.set $na (i32x4.sub (local.get $na)
          (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
        (local.set $nz (i32x4.sub (local.get $nz) (i32x4.ne (local.get $abs) (v128.const i32x4 0 0 0 0))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $next)))
    (call $addCounts (local.get $cl) (local.get $fl) (local.get $na) (local.get $nz)))

  ;; --------------------------------------------------------------------------------------------- bfloat16
  (func (export "bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $b v128) (local $abs v128) (local $h v128) (local $hi v128)
    (local $big v128) (local $special v128) (local $nan v128)
    (local $cl v128) (local $fl v128) (local $na v128) (local $nz v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $b (v128.load (local.get $src)))
        (local.set $abs (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $hi (i32x4.shr_u (local.get $b) (i32.const 16)))
        ;; finite up to the largest bfloat16: round the low 16 bits to nearest even (sign included: no carry out)
        (local.set $h
          (i32x4.shr_u
            (i32x4.add
              (i32x4.add (local.get $b) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
              (v128.and (local.get $hi) (v128.const i32x4 1 1 1 1)))
            (i32.const 16)))
        (local.set $big (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f7f0000 0x7f7f0000 0x7f7f0000 0x7f7f0000)))
        (local.set $special (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f7fffff 0x7f7fffff 0x7f7fffff 0x7f7fffff)))
        (local.set $nan (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
        ;; saturate to the sign's largest finite value; infinity and NaN keep their upper half, NaN made quiet
        (local.set $h
          (v128.bitselect
            (v128.or
              (v128.and (local.get $hi) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))
              (v128.const i32x4 0x7f7f 0x7f7f 0x7f7f 0x7f7f))
            (local.get $h) (local.get $big)))
        (local.set $h
          (v128.bitselect
            (v128.or (local.get $hi) (v128.and (local.get $nan) (v128.const i32x4 0x40 0x40 0x40 0x40)))
            (local.get $h) (local.get $special)))
        (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $h) (local.get $h)))
        (local.set $cl (i32x4.sub (local.get $cl) (v128.andnot (local.get $big) (local.get $special))))
        (local.set $fl (i32x4.sub (local.get $fl) 
          ;; flushed: 0 < abs <= 0x8000 (0x8000 is a tie, to the even zero), as abs - 1 < 0x8000 unsigned
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 1 1 1 1))
            (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
        (local.set $na (i32x4.sub (local.get $na) (local.get $nan)))
        (local.set $nz (i32x4.sub (local.get $nz) (i32x4.ne (local.get $abs) (v128.const i32x4 0 0 0 0))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $next)))
    (call $addCounts (local.get $cl) (local.get $fl) (local.get $na) (local.get $nz)))

  (func (export "bf16count") (param $src i32) (param $n i32)
    (local $end i32) (local $abs v128) (local $cl v128) (local $fl v128) (local $na v128) (local $nz v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $abs (v128.and (v128.load (local.get $src)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        ;; clamped: 0x7f7f0000 < abs < 0x7f800000
        (local.set $cl (i32x4.sub (local.get $cl)
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 0x7f7f0001 0x7f7f0001 0x7f7f0001 0x7f7f0001))
            (v128.const i32x4 0x0000ffff 0x0000ffff 0x0000ffff 0x0000ffff))))
        (local.set $fl (i32x4.sub (local.get $fl) 
          ;; flushed: 0 < abs <= 0x8000 (0x8000 is a tie, to the even zero), as abs - 1 < 0x8000 unsigned
          (i32x4.lt_u
            (i32x4.sub (local.get $abs) (v128.const i32x4 1 1 1 1))
            (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
        (local.set $na (i32x4.sub (local.get $na)
          (i32x4.gt_u (local.get $abs) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
        (local.set $nz (i32x4.sub (local.get $nz) (i32x4.ne (local.get $abs) (v128.const i32x4 0 0 0 0))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $next)))
    (call $addCounts (local.get $cl) (local.get $fl) (local.get $na) (local.get $nz)))

  ;; ------------------------------------------------------------------------------------------------ counts
  (func $lanes (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  (func $addCounts (param $cl v128) (param $fl v128) (param $na v128) (param $nz v128)
    (i32.store offset=0 (i32.const 0) (i32.add (i32.load offset=0 (i32.const 0)) (call $lanes (local.get $cl))))
    (i32.store offset=4 (i32.const 0) (i32.add (i32.load offset=4 (i32.const 0)) (call $lanes (local.get $fl))))
    (i32.store offset=8 (i32.const 0) (i32.add (i32.load offset=8 (i32.const 0)) (call $lanes (local.get $na))))
    (i32.store offset=12 (i32.const 0) (i32.add (i32.load offset=12 (i32.const 0)) (call $lanes (local.get $nz)))))
)
