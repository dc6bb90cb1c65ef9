# ctest: the per-level SIMD objects (native/cpu/matmul_{avx2,avx512,bf16}.cpp) must define no global or weak symbol
# other than their sf::cpu_kernels_* table getter. A weak (inline/template) function compiled with AVX-512 flags could
# be the copy the linker keeps for the portable code too, and crash a CPU without AVX-512 (see native/cpu/dispatch.h).
# Usage: cmake -DNM=<nm> -DOBJS="a.o|b.o" -P check_simd_symbols.cmake
string(REPLACE "|" ";" objs "${OBJS}")
set(bad "")
foreach(obj ${objs})
  execute_process(COMMAND ${NM} -C --defined-only ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line ${lines})
    # "<address> <type> <name>": upper-case types are global; W/V/w/v are weak; u is GNU unique
    if(line MATCHES "^[0-9a-fA-F]* ([A-Zwvu]) (.*)$")
      set(name "${CMAKE_MATCH_2}")
      # DW.ref.__gxx_personality_v0: the C++ exception personality pointer (data, the same in every object)
      if(NOT name MATCHES "^sf::cpu_kernels_(avx2|avx512|avx512_bf16)\\(\\)$" AND NOT name STREQUAL "DW.ref.__gxx_personality_v0")
        list(APPEND bad "${obj}: ${line}")
      endif()
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n" bad "${bad}")
  message(FATAL_ERROR "SIMD objects define shared symbols:\n${bad}")
endif()
list(LENGTH objs n)
message(STATUS "ok: ${n} SIMD objects define only their table getters")
