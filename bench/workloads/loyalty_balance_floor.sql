-- The floor of any balance read, shown beside points_balance: the member's
-- maintained balance read by its primary key in plain SQL, with no expiry
-- rule and no function.  One index lookup in a statement is what an O(1)
-- read costs at least; points_balance does that lookup in C.
-- against: select1
\set n random(1, :scale)
SELECT m.balance FROM jobspy.loyalty_members m WHERE m.user_id = bench.user_id(:n);
