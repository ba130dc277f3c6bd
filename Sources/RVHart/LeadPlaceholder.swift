// Placeholder until the hart core lands; removed by the lead.
