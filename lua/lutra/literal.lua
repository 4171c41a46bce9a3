-- Lua literals read as data, never run: numbers (decimal, hex, exponents, a leading minus),
-- strings (both quotes with Lua's escapes, long brackets), true, false, nil, and tables of
-- them (list items, `k = v` and `[k] = v` fields, nested). `--set k=v` values come through
-- here, so that a value cannot call a function, loop or read a global: anything that is
-- not a literal is refused with the character where reading stopped.
local literal = {}

local MAX_DEPTH = 100 -- nested tables; deeper is refused rather than overflowing the stack

local ESCAPES = {a = "\a", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", v = "\v",
    ["\\"] = "\\", ['"'] = '"', ["'"] = "'", ["\n"] = "\n", ["\r"] = "\n"}

local KEYWORDS = {["true"] = true, ["false"] = false, ["nil"] = nil}

-- A reading error: raised as a table so that read() can tell it from a bug.
local Stop = {}

local function stop(pos, msg)
    error(setmetatable({pos = pos, msg = msg}, Stop), 0)
end

-- What stands at pos, for messages: "'x'", "the end".
local function near(s, pos)
    if pos > #s then
        return "the end"
    end
    local word = s:match("^[%w_]+", pos)
    return "'" .. (word or s:sub(pos, pos)) .. "'"
end

local function skip_space(s, pos)
    return s:match("^%s*()", pos)
end

-- A numeral as Lua's lexer reads it (digits, '.', hex digits, exponent and its sign);
-- returns the number and the position after it.
local function numeral(s, pos)
    local start, expo = pos, "[eE]"
    if s:match("^0[xX]", pos) then
        expo, pos = "[pP]", pos + 2
    end
    while true do
        local c = s:sub(pos, pos)
        if c:match(expo) then
            pos = pos + 1
            if s:sub(pos, pos):match("[+-]") then
                pos = pos + 1
            end
        elseif c:match("[%x.]") and c ~= "" then
            pos = pos + 1
        else
            break
        end
    end
    local text = s:sub(start, pos - 1)
    local v = tonumber(text)
    if v == nil or s:match("^[%w_]", pos) then
        stop(start, "malformed number near '" .. (s:match("^[%w_.+-]+", start) or text) .. "'")
    end
    return v, pos
end

-- A quoted string starting at pos (the quote); returns the string and the position after.
local function short_string(s, pos)
    local quote, out, i = s:sub(pos, pos), {}, pos + 1
    while true do
        local c = s:sub(i, i)
        if c == "" or c == "\n" or c == "\r" then
            stop(pos, "unfinished string")
        elseif c == quote then
            return table.concat(out), i + 1
        elseif c ~= "\\" then
            local j = s:find("[\\\n\r" .. quote .. "]", i) or #s + 1
            out[#out + 1] = s:sub(i, j - 1)
            i = j
        else
            local e = s:sub(i + 1, i + 1)
            if ESCAPES[e] then
                out[#out + 1] = ESCAPES[e]
                i = i + 2
                if (e == "\n" and s:sub(i, i) == "\r") or (e == "\r" and s:sub(i, i) == "\n") then
                    i = i + 1
                end
            elseif e == "z" then
                i = skip_space(s, i + 2)
            elseif e == "x" then
                local hex = s:match("^%x%x", i + 2)
                if not hex then
                    stop(i, "hexadecimal digits expected in escape '\\x'")
                end
                out[#out + 1] = string.char(tonumber(hex, 16))
                i = i + 4
            elseif e:match("%d") then
                local digits = s:match("^%d%d?%d?", i + 1)
                local n = tonumber(digits)
                if n > 255 then
                    stop(i, "decimal escape too large '\\" .. digits .. "'")
                end
                out[#out + 1] = string.char(n)
                i = i + 1 + #digits
            elseif e == "u" then
                local hex, after = s:match("^{(%x+)}()", i + 2)
                local n = hex and #hex <= 8 and tonumber(hex, 16)
                if not n or n >= 2 ^ 31 then
                    stop(i, "bad escape '\\u': want \\u{XXX} below 2^31")
                end
                out[#out + 1] = utf8.char(n)
                i = after
            else
                stop(i, "invalid escape '\\" .. e .. "'")
            end
        end
    end
end

-- A long string [[...]] or [==[...]==] at pos; returns the string and the position after.
local function long_string(s, pos)
    local eqs, open_end = s:match("^%[(=*)%[()", pos)
    local close = "]" .. eqs .. "]"
    local body_start = open_end
    if s:sub(body_start, body_start) == "\r" then
        body_start = body_start + 1
    end
    if s:sub(body_start, body_start) == "\n" then
        body_start = body_start + 1
    end
    local a, b = s:find(close, body_start, true)
    if not a then
        stop(pos, "unfinished long string")
    end
    return s:sub(body_start, a - 1), b + 1
end

local value

-- A table constructor at pos ('{'); returns the table and the position after.
local function constructor(s, pos, depth)
    if depth > MAX_DEPTH then
        stop(pos, "tables nested more than " .. MAX_DEPTH .. " deep")
    end
    local t, items, fields = {}, {}, {}
    local i = skip_space(s, pos + 1)
    while s:sub(i, i) ~= "}" do
        local key, v
        local name, after = s:match("^([%a_][%w_]*)%s*()=", i)
        if name and s:sub(after + 1, after + 1) ~= "=" and KEYWORDS[name] == nil and
                name ~= "nil" then
            key = name
            v, i = value(s, skip_space(s, after + 1), depth + 1)
        elseif s:sub(i, i) == "[" and not s:match("^%[=*%[", i) then
            local kpos = skip_space(s, i + 1)
            key, i = value(s, kpos, depth + 1)
            if type(key) == "table" or key == nil or key ~= key then
                stop(kpos, "a table key must be a number, a string or a boolean")
            end
            i = skip_space(s, i)
            if s:sub(i, i) ~= "]" then
                stop(i, "']' expected near " .. near(s, i))
            end
            i = skip_space(s, i + 1)
            if s:sub(i, i) ~= "=" then
                stop(i, "'=' expected near " .. near(s, i))
            end
            v, i = value(s, skip_space(s, i + 1), depth + 1)
        else
            v, i = value(s, i, depth + 1)
            items[#items + 1] = {v}
        end
        if key ~= nil then
            fields[#fields + 1] = {key, v}
        end
        i = skip_space(s, i)
        local sep = s:sub(i, i)
        if sep == "," or sep == ";" then
            i = skip_space(s, i + 1)
        elseif sep ~= "}" then
            stop(i, "'}' expected (to close '{' at character " .. pos .. ") near " .. near(s, i))
        end
    end
    -- as Lua builds it: the fields, then the list items over them
    for _, f in ipairs(fields) do
        t[f[1]] = f[2]
    end
    for n, item in ipairs(items) do
        t[n] = item[1]
    end
    return t, i + 1
end

-- One literal at pos (no leading space); returns it and the position after.
function value(s, pos, depth)
    local c = s:sub(pos, pos)
    if c == "{" then
        return constructor(s, pos, depth)
    elseif c == '"' or c == "'" then
        return short_string(s, pos)
    elseif s:match("^%[=*%[", pos) then
        return long_string(s, pos)
    elseif c:match("%d") or s:match("^%.%d", pos) then
        return numeral(s, pos)
    elseif c == "-" and not s:match("^%-%-", pos) then
        local npos = skip_space(s, pos + 1)
        if s:match("^%d", npos) or s:match("^%.%d", npos) then
            local v, after = numeral(s, npos)
            return -v, after
        end
        stop(npos, "a number expected after '-' near " .. near(s, npos))
    end
    local name, after = s:match("^([%a_][%w_]*)()", pos)
    if name and (KEYWORDS[name] ~= nil or name == "nil") then
        return KEYWORDS[name], after
    elseif name then
        stop(pos, "'" .. name .. "' is a name, not a literal (quote a string: \"" .. name ..
            "\")")
    end
    if pos > #s then
        stop(pos, "a value expected at the end")
    elseif c == "[" then
        stop(pos, "unexpected '[' (a list is written {1, 2})")
    end
    stop(pos, "unexpected " .. near(s, pos) .. " (a literal is a number, a string, true, " ..
        "false, nil or a table of them)")
end

-- read(text): the one literal text holds (spaces around it allowed). Returns true and the
-- value, or false, a message and the character (1-based) where reading stopped. Never
-- runs code; cannot fail otherwise.
function literal.read(text)
    local ok, v, pos = pcall(function()
        local i = skip_space(text, 1)
        if i > #text then
            stop(i, "no value")
        end
        local x, after = value(text, i, 0)
        after = skip_space(text, after)
        if after <= #text then
            stop(after, "unexpected " .. near(text, after) .. " after the value")
        end
        return x
    end)
    if ok then
        return true, v
    elseif getmetatable(v) == Stop then
        return false, v.msg, v.pos
    end
    error(v, 0)
end

return literal
