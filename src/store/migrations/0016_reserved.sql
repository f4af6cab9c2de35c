-- Reserved: migration 16 is the push consumers' (branch pushmodel, issue 15). This stand-in
-- only keeps the numbers contiguous on the webhook branch; the merge drops it for theirs.
SELECT 1;
