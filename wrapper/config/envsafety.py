"""Environment names an event value must not choose: those that change how programs load or start, and AWS_*.

A caller who picks the value of LD_PRELOAD, BASH_ENV or PYTHONSTARTUP picks code the program runs, whatever its
argv says. The list follows glibc's UNSECURE_ENVVARS (sysdeps/generic/unsecvars.h: what the loader drops for
setuid programs), sudo's and shadow's environment deny lists, and the start-up hooks of common interpreters and
tools. It is a deny list, so it cannot be complete: map event values into names you know the program reads as
data. Names compare case-insensitively (zsh ties `path` to PATH). A config may still map an event value into one
of these names, by listing it in `allow_unsafe_env`: a decision in writing, not an accident.
"""

from __future__ import annotations

# glibc's loader and libc: preload and library paths, charset converters, resolver and locale files, tunables
GLIBC = (
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
    "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
)
# shells: files sourced at start, options that run code (PS4 with xtrace), word splitting, search paths
SHELLS = (
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE", "FPATH",
    "ZDOTDIR", "PATH", "SHELL", "HOME", "XDG_CONFIG_HOME",
)
# interpreters, runtimes and tools that load code or configuration named by a variable
TOOLS = (
    "CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "TCLLIBPATH", "PHPRC", "PHP_INI_SCAN_DIR",
    "OPENSSL_CONF", "OPENSSL_ENGINES", "SSLKEYLOGFILE", "CURL_HOME", "WGETRC", "SSH_ASKPASS", "EDITOR", "VISUAL",
    "PAGER", "BROWSER", "TERMINFO", "TERMINFO_DIRS", "TERMCAP", "KRB5_CONFIG", "PERLLIB",
)
PREFIXES = (
    "LD_",  # every glibc loader variable (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...)
    "DYLD_",  # the macOS loader's
    "MALLOC_",  # glibc malloc tracing and checks
    "PYTHON",  # PYTHONSTARTUP, PYTHONPATH, PYTHONHOME, PYTHONWARNINGS and PYTHONBREAKPOINT (both import code)
    "PERL5", "PERLIO",  # PERL5LIB, PERL5OPT, PERL5DB
    "RUBY",  # RUBYOPT, RUBYLIB
    "NODE_",  # NODE_OPTIONS (--require), NODE_PATH
    "NPM_CONFIG_",  # npm settings, script-shell among them
    "LUA_",  # LUA_INIT runs code, LUA_PATH and LUA_CPATH load it
    "GIT_",  # GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*
    "BASH_FUNC_",  # bash functions exported through the environment
)
FIXED = frozenset(GLIBC + SHELLS + TOOLS)
# The function's own credentials: passed only with aws_credentials: true (see env_passthrough). The Runtime API's
# address is never passed: a program that has it can take or answer other invocations.
RUNTIME_API_NAME = "AWS_LAMBDA_RUNTIME_API"
CREDENTIAL_NAMES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def unsafe_env_reason(name: str) -> str | None:
    """Why an event value must not choose `name`'s value, or None when it may."""
    upper = name.upper()
    if upper.startswith("AWS_"):
        return "AWS_* names configure the AWS SDKs and CLI (credentials, endpoints, config files)"
    if upper in FIXED or upper.startswith(PREFIXES):
        return "it changes how programs load or start"
    return None
