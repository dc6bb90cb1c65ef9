int sqlfocus_core_placeholder = 0;
