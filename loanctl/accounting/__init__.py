"""Fund accounting (SPEC §9): income recognised per lender position and period, deferred fees
amortized, amortized cost, and the double-entry journal of it all."""
