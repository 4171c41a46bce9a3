-- "Did you mean": the edit distance between two words and the closest of a list of names
-- to a word that is probably a typo of one (unknown recipe keys, choices, command-line
-- options and verbs).
local suggest = {}

-- The optimal-string-alignment edit distance (Levenshtein plus adjacent transposition).
function suggest.distance(a, b)
    local la, lb = #a, #b
    local d = {}
    for i = 0, la do
        d[i] = {[0] = i}
    end
    for j = 0, lb do
        d[0][j] = j
    end
    for i = 1, la do
        for j = 1, lb do
            local cost = a:byte(i) == b:byte(j) and 0 or 1
            local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
                v = math.min(v, d[i - 2][j - 2] + 1)
            end
            d[i][j] = v
        end
    end
    return d[la][lb]
end

-- The candidate closest to word, or nil when none is close enough to be a likely typo.
-- Case does not count.
function suggest.closest(word, candidates)
    local best, best_d
    local limit = math.max(1, math.floor(#word * 0.4))
    for _, c in ipairs(candidates) do
        local d = suggest.distance(word:lower(), c:lower())
        if d <= limit and (not best_d or d < best_d) then
            best, best_d = c, d
        end
    end
    return best
end

return suggest
