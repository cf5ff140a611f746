# vigil_add_plugin(NAME SOURCES...): builds a vigil region policy plugin.
#
# Used in the vigil tree and, installed, by VigilPluginConfig.cmake for plugins
# built out of tree. The result is NAME.so (no "lib" prefix): the file stem is
# what a region's `plugin = "NAME";` names. It is compiled with
# -fvisibility=hidden (only vigil_plugin_descriptor, marked by VIGIL_PLUGIN(),
# is exported) and linked with -Wl,--no-undefined (a plugin may not depend on
# symbols of the host: everything it needs comes through vigil_host_api_t).
# Expects the target VigilPlugin::sdk (the include path) to exist.
function(vigil_add_plugin name)
  if(NOT ARGN)
    message(FATAL_ERROR "vigil_add_plugin(${name}): no sources")
  endif()
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE VigilPlugin::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    C_STANDARD 11
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
endfunction()
