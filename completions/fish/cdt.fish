# fish completion for cdt and its tools.
#
# The same file serves all seven programs: it is installed as cdt.fish,
# cdt-auth.fish, cdt-session.fish, cdt-chat.fish, cdt-files.fish,
# cdt-checkpoint.fish and cdt-route.fish (fish looks completions up by
# command name), and it completes the program its own file name names.
#
# Nothing here names an option: the program is asked, through its hidden
# `--list-options [COMMAND]` (lines "NAME<TAB>command" for its commands,
# then "--long<TAB>flag|arg|file" and "-x<TAB>..." for the options valid
# there), so the completion cannot drift from the option tables.  `cdt
# NAME ...` completes as the tool that it runs.

# __cdt_takes WORD LIST...: print arg or file when the option word WORD
# takes the next word as its value (--opt VALUE, -x VALUE, -qx VALUE).
function __cdt_takes
    set -l w $argv[1]
    set -l list $argv[2..-1]
    if string match -q -- '--*=*' $w
        return 1
    else if string match -q -- '--*' $w
        for k in arg file
            contains -- $w\t$k $list; and echo $k; and return 0
        end
        return 1
    end
    set -l chars (string split '' -- (string sub -s 2 -- $w))
    for j in (seq (count $chars))
        for k in arg file
            if contains -- -$chars[$j]\t$k $list
                # A value attached to the option: nothing is taken.
                test $j -eq (count $chars); and echo $k; and return 0
                return 1
            end
        end
    end
    return 1
end

function __cdt_complete --description 'Complete a cdt program from its --list-options'
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l prog $tokens[1]
    set -l n (count $tokens)
    set -l i 2
    set -l list ($prog --list-options 2>/dev/null)
    or return
    # `cdt NAME ...` runs cdt-NAME (or cdt's own NAME): complete as that.
    if test (string replace -r '.*/' '' -- $prog) = cdt; and test $n -ge 2
        and contains -- $tokens[2]\tcommand $list
        set prog $prog $tokens[2]
        set i 3
        set list ($prog --list-options 2>/dev/null)
        or return
    end

    # Walk the words before the cursor: options (skipping their values),
    # the command word, operands, and "--" after which nothing is ours.
    set -l sub
    set -l operand 0
    set -l valkind
    while test $i -le $n
        set -l w $tokens[$i]
        if test "$w" = --
            __fish_complete_path $cur
            return
        else if string match -qr -- '^-.' $w
            set -l k (__cdt_takes $w $list)
            if test -n "$k"
                test $i -eq $n; and set valkind $k
                set i (math $i + 1)
            end
        else if test -z "$sub" -a $operand = 0
            if contains -- $w\tcommand $list
                set sub $w
                set list ($prog --list-options $sub 2>/dev/null)
                or return
            else
                set operand 1
            end
        end
        set i (math $i + 1)
    end

    switch "$valkind"
        case file
            __fish_complete_path $cur
            return
        case arg
            return
    end
    if string match -qr -- '^--[^=]+=' $cur
        set -l opt (string replace -r '=.*' '' -- $cur)
        if contains -- $opt\tfile $list
            for p in (__fish_complete_path (string replace -r '^[^=]*=' '' -- $cur))
                printf '%s=%s\n' $opt $p
            end
        end
        return
    end
    set -l cmds (string replace -rf '^([^\t]+)\tcommand$' '$1' -- $list)
    if string match -q -- '-*' $cur
        string replace -rf '^(-[^\t]+)\t.*' '$1' -- $list
    else if test -z "$sub" -a $operand = 0 -a (count $cmds) -gt 0
        printf '%s\n' $cmds
    else
        __fish_complete_path $cur
    end
end

complete -c (string replace -r '\.fish$' '' -- (status basename)) -f -a '(__cdt_complete)'
