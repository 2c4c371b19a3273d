-- points_balance: a member's balance, read in O(1) from the maintained
-- balance.
-- compare: select1 >= 0.6
-- against: loyalty_balance_floor
\set n random(1, :scale)
SELECT jobspy.points_balance(bench.user_id(:n));
