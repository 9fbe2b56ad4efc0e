# sl_add_module(<name> SOURCES ... [DEPENDS <module>...] [LIBRARIES <lib>...])
#
# Each folder under core/ is one layer and one OBJECT library (STYLE.md §1). A module sees the
# public headers, its own folder, and the folders of the modules it depends on; never a layer
# above it. The objects of every module are gathered into libsluice (shared and static) by
# core/CMakeLists.txt.
function(sl_add_module name)
    cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;LIBRARIES" ${ARGN})
    set(target sluice_${name})
    add_library(${target} OBJECT ${ARG_SOURCES})
    set_target_properties(${target} PROPERTIES
        POSITION_INDEPENDENT_CODE ON
        C_VISIBILITY_PRESET hidden)
    target_compile_definitions(${target} PRIVATE SL_BUILDING_LIBRARY _POSIX_C_SOURCE=200809L)
    target_include_directories(${target}
        PUBLIC
            $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
            $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}>)
    target_link_libraries(${target} PRIVATE sluice_warnings)
    foreach(dep IN LISTS ARG_DEPENDS)
        target_include_directories(${target} PUBLIC
            $<TARGET_PROPERTY:sluice_${dep},INTERFACE_INCLUDE_DIRECTORIES>)
    endforeach()
    if(ARG_LIBRARIES)
        target_link_libraries(${target} PUBLIC ${ARG_LIBRARIES})
    endif()
    set_property(GLOBAL APPEND PROPERTY SL_MODULES ${target})
    set_property(GLOBAL APPEND PROPERTY SL_INTERNAL_INCLUDES ${CMAKE_CURRENT_SOURCE_DIR})
endfunction()
