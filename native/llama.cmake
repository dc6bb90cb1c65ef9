# llama.cpp's quantizer for the addon (native/addon/quantizer.cpp).
# The addon does not link libllama: at run time it dlopen()s the prebuilt libllama that node-llama-cpp
# ships (its path is found by src/gguf), so the addon builds and loads even where node-llama-cpp is
# missing (the quantizer then reports itself unavailable). At build time it only needs the headers of
# the same llama.cpp commit, for the layout of llama_model_quantize_params: they are extracted here
# from node-llama-cpp's git bundle into the build folder (never committed).
# The bundle is found by Node's module resolution from this package (scripts/build-native.mjs passes it as
# SQLFOCUS_LLAMA_BUNDLE; otherwise node is asked here), so a node-llama-cpp hoisted into a project's node_modules
# is found as well as one nested under sqlfocus's.
set(SQLFOCUS_LLAMA_BUNDLE "" CACHE FILEPATH "node-llama-cpp's llama/gitRelease.bundle (default: resolved with node)")
if(NOT SQLFOCUS_LLAMA_BUNDLE)
  execute_process(
    COMMAND node -p "((p,fs,up)=>(up=(d)=>fs.existsSync(p.join(d,'package.json'))?d:up(p.dirname(d)),p.join(up(p.dirname(require.resolve('node-llama-cpp'))),'llama','gitRelease.bundle')))(require('path'),require('fs'))"
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    OUTPUT_VARIABLE _sqlfocus_bundle RESULT_VARIABLE _sqlfocus_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_sqlfocus_rc EQUAL 0 AND _sqlfocus_bundle)
    set(SQLFOCUS_LLAMA_BUNDLE "${_sqlfocus_bundle}")
  endif()
endif()
set(SQLFOCUS_LLAMA_HEADERS "${CMAKE_BINARY_DIR}/llama-headers")
find_program(SQLFOCUS_GIT git)

if(WIN32)
  message(STATUS "sqlfocus: the llama.cpp quantizer is not built on Windows (dlopen route); quantize reports it unavailable")
elseif(NOT SQLFOCUS_LLAMA_BUNDLE OR NOT EXISTS "${SQLFOCUS_LLAMA_BUNDLE}")
  message(STATUS "sqlfocus: node-llama-cpp's llama.cpp bundle not found ('${SQLFOCUS_LLAMA_BUNDLE}'); quantize will report itself unavailable")
elseif(NOT SQLFOCUS_GIT)
  message(STATUS "sqlfocus: git not found (needed to read llama.cpp headers from the bundle); quantize will report itself unavailable")
else()
  file(SHA256 "${SQLFOCUS_LLAMA_BUNDLE}" _sqlfocus_bundle_hash)
  set(_stamp "${SQLFOCUS_LLAMA_HEADERS}/.bundle-sha256")
  set(_have "")
  if(EXISTS "${_stamp}")
    file(READ "${_stamp}" _have)
  endif()
  if(NOT _have STREQUAL _sqlfocus_bundle_hash)
    set(_clone "${CMAKE_BINARY_DIR}/llama-bundle-clone")
    file(REMOVE_RECURSE "${_clone}" "${SQLFOCUS_LLAMA_HEADERS}")
    file(MAKE_DIRECTORY "${SQLFOCUS_LLAMA_HEADERS}")
    execute_process(COMMAND "${SQLFOCUS_GIT}" clone --quiet --no-checkout "${SQLFOCUS_LLAMA_BUNDLE}" "${_clone}"
                    RESULT_VARIABLE _rc ERROR_VARIABLE _err)
    set(_ok FALSE)
    if(_rc EQUAL 0)
      execute_process(COMMAND "${SQLFOCUS_GIT}" -C "${_clone}" ls-tree --name-only HEAD ggml/include/
                      OUTPUT_VARIABLE _ggml_headers RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
      string(REPLACE "\n" ";" _ggml_headers "${_ggml_headers}")
      set(_ok TRUE)
      foreach(_h include/llama.h ${_ggml_headers})
        if(_h MATCHES "\\.h$")
          get_filename_component(_name "${_h}" NAME)
          execute_process(COMMAND "${SQLFOCUS_GIT}" -C "${_clone}" show "HEAD:${_h}"
                          OUTPUT_FILE "${SQLFOCUS_LLAMA_HEADERS}/${_name}" RESULT_VARIABLE _rc)
          if(NOT _rc EQUAL 0)
            set(_ok FALSE)
          endif()
        endif()
      endforeach()
    else()
      message(STATUS "sqlfocus: cannot clone ${SQLFOCUS_LLAMA_BUNDLE}: ${_err}")
    endif()
    file(REMOVE_RECURSE "${_clone}")
    if(_ok AND EXISTS "${SQLFOCUS_LLAMA_HEADERS}/llama.h")
      file(WRITE "${_stamp}" "${_sqlfocus_bundle_hash}")
    else()
      file(REMOVE_RECURSE "${SQLFOCUS_LLAMA_HEADERS}")
    endif()
  endif()
  if(EXISTS "${SQLFOCUS_LLAMA_HEADERS}/llama.h")
    target_include_directories(sqlfocus_addon PRIVATE "${SQLFOCUS_LLAMA_HEADERS}")
    target_compile_definitions(sqlfocus_addon PRIVATE SQLFOCUS_HAVE_LLAMA=1)
    target_link_libraries(sqlfocus_addon PRIVATE ${CMAKE_DL_LIBS})
    message(STATUS "sqlfocus: llama.cpp quantizer enabled (headers from node-llama-cpp's bundle)")
  else()
    message(STATUS "sqlfocus: llama.cpp headers could not be extracted; quantize will report itself unavailable")
  endif()
endif()
